//! `ocr-infra samples`: write synthetic passport images and their manifest.

use std::path::PathBuf;
use std::time::Instant;

use super::{FormatMix, GenerateOptions, generate};

/// Arguments of `ocr-infra samples`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Number of images to write.
    #[arg(long)]
    pub count: usize,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Image format(s): png, jpeg or mixed (alternating).
    #[arg(long, value_enum, default_value_t = FormatMix::Mixed)]
    pub format: FormatMix,
    /// Smallest file size in KB (1 KB = 1000 bytes); needs --max-kb.
    #[arg(long, requires = "max_kb")]
    pub min_kb: Option<usize>,
    /// Largest file size in KB (1 KB = 1000 bytes); needs --min-kb.
    #[arg(long, requires = "min_kb")]
    pub max_kb: Option<usize>,
    /// Seed: the same arguments write the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Mix in scenario images (failure, error, driver's license, low confidence, OCR noise,
    /// masked) as every 4th image.
    #[arg(long)]
    pub scenarios: bool,
    /// Draw every image with its own text (slower) instead of reusing a few drawn pages.
    #[arg(long)]
    pub distinct_pixels: bool,
}

impl Args {
    /// The generator options these arguments ask for.
    pub fn options(&self) -> GenerateOptions {
        let kb = |k: usize| k.saturating_mul(1000);
        GenerateOptions {
            count: self.count,
            out_dir: self.out.clone(),
            formats: self.format,
            size: self.min_kb.zip(self.max_kb).map(|(a, b)| (kb(a), kb(b))),
            seed: self.seed,
            scenarios: self.scenarios,
            distinct_pixels: self.distinct_pixels,
        }
    }
}

/// Run the subcommand: generate, then print a one-line summary.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let opts = args.options();
    let started = Instant::now();
    let manifest = tokio::task::spawn_blocking(move || generate(&opts)).await??;
    let secs = started.elapsed().as_secs_f64();
    let n = manifest.entries.len();
    let total = manifest.total_bytes();
    println!(
        "wrote {n} images ({total} bytes, {:.1} MB) and manifest.json to {} in {secs:.2}s ({:.0} images/s)",
        total as f64 / 1e6,
        args.out.display(),
        n as f64 / secs.max(1e-9),
    );
    Ok(())
}
