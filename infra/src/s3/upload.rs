//! `ocr-infra upload`: put every file of a directory (not recursing, skipping `manifest.json`)
//! under `s3://bucket/prefix`, creating the bucket if needed. Uses the standard AWS settings
//! (`AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`), path-style addressing.

use std::path::PathBuf;

use futures::StreamExt;

/// Arguments of `ocr-infra upload`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory whose files to upload.
    #[arg(long)]
    pub dir: PathBuf,
    /// Destination, `s3://bucket/prefix/`.
    #[arg(long)]
    pub to: String,
}

/// Upload the files; print a one-line summary.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let rest = args
        .to
        .strip_prefix("s3://")
        .ok_or_else(|| anyhow::anyhow!("--to must look like s3://bucket/prefix"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let shared = aws_config::from_env().load().await;
    let conf = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    if client.head_bucket().bucket(bucket).send().await.is_err() {
        client.create_bucket().bucket(bucket).send().await?;
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&args.dir)? {
        let path = entry?.path();
        if path.is_file() && path.file_name().is_some_and(|n| n != "manifest.json") {
            files.push(path);
        }
    }
    files.sort();
    let total = files.len();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(files)
        .map(|path| {
            let client = client.clone();
            let key = format!(
                "{prefix}{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            async move {
                let body = aws_sdk_s3::primitives::ByteStream::from_path(&path).await?;
                client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(body)
                    .send()
                    .await?;
                Ok(())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for r in results {
        r?;
    }
    println!("uploaded {total} files to s3://{bucket}/{prefix}");
    Ok(())
}
