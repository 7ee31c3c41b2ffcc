//! `ocr-infra`: run the local stand-ins (OCR emulator, S3-protocol server, sample generator).

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ocr-infra",
    version,
    about = "Local stand-ins for the passport OCR worker's outside world"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the CLOVA OCR ID-card emulator.
    Emulator(ocr_infra::emulator::cli::Args),
    /// Serve a local S3-protocol server (s3s-fs) that checks request signatures.
    S3(ocr_infra::s3::Args),
    /// Write synthetic passport images with embedded ground truth and a manifest.
    Samples(ocr_infra::samples::cli::Args),
    /// Upload the files of a directory to s3://bucket/prefix (standard AWS_* settings).
    Upload(ocr_infra::s3::upload::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Emulator(args) => ocr_infra::emulator::cli::run(args).await,
        Command::S3(args) => ocr_infra::s3::run(args).await,
        Command::Samples(args) => ocr_infra::samples::cli::run(args).await,
        Command::Upload(args) => ocr_infra::s3::upload::run(args).await,
    }
}
