//! Synthetic passport sample generator.
//!
//! [`render`] draws one passport data page (visual zone and MRZ, legible) for a [`Truth`] and
//! encodes it as PNG or JPEG with the truth embedded, optionally steering the file to a target
//! size. [`generate`] writes many such files plus a `manifest.json` ([`Manifest`]) into a
//! directory; the `ocr-infra samples` subcommand ([`cli`]) wraps it.
//!
//! Two speeds:
//! - `distinct_pixels: false` (fast, the default of the CLI): a few pages are drawn once per
//!   format and every file reuses one of them, made unique only by its embedded truth. The
//!   pixels of such a file show the person of the first file that used the page, not its own
//!   truth; the emulator reads the embedded truth, so answers still match the manifest.
//! - `distinct_pixels: true`: every image is drawn with its own text and noise.
//!
//! Either way every file has distinct bytes (and so a distinct SHA-256).

pub mod cli;
pub mod manifest;
pub mod render;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use manifest::{MANIFEST_FILE, Manifest, ManifestEntry};
pub use render::{MAX_TARGET_BYTES, MIN_TARGET_BYTES, country_name, render, visual_date};

use crate::truth::{self, Noise, Recognition, Truth, TruthError};

/// Image file format of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleFormat {
    /// PNG, 8-bit RGB, truth in an `iTXt` chunk.
    Png,
    /// Baseline JPEG, truth in a `COM` segment.
    Jpeg,
}

impl SampleFormat {
    /// File extension without the dot: `png` or `jpg`.
    pub fn extension(self) -> &'static str {
        match self {
            SampleFormat::Png => "png",
            SampleFormat::Jpeg => "jpg",
        }
    }
}

impl std::fmt::Display for SampleFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SampleFormat::Png => "png",
            SampleFormat::Jpeg => "jpeg",
        })
    }
}

/// Which formats [`generate`] writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FormatMix {
    /// Only PNG.
    Png,
    /// Only JPEG.
    Jpeg,
    /// PNG and JPEG alternating (even indices PNG, odd JPEG).
    #[default]
    Mixed,
}

impl FormatMix {
    /// Format of the sample at 0-based `index`.
    pub fn format_for(self, index: usize) -> SampleFormat {
        match self {
            FormatMix::Png => SampleFormat::Png,
            FormatMix::Jpeg => SampleFormat::Jpeg,
            FormatMix::Mixed if index.is_multiple_of(2) => SampleFormat::Png,
            FormatMix::Mixed => SampleFormat::Jpeg,
        }
    }
}

/// Errors of the sample generator.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The options cannot be satisfied (zero count, min > max, size out of range, ...).
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// An embedded font failed to parse.
    #[error("embedded font is invalid: {0}")]
    Font(String),
    /// Encoding the image failed.
    #[error("encoding image: {0}")]
    Encode(#[from] image::ImageError),
    /// Embedding the truth failed.
    #[error("embedding truth: {0}")]
    Truth(#[from] TruthError),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The manifest could not be (de)serialised.
    #[error("manifest JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// No resolution / noise / quality got the file close enough to the target size.
    #[error("could not reach {target} bytes as {format} (closest: {got} bytes)")]
    SizeUnreachable {
        /// The size aimed at.
        target: usize,
        /// The closest size produced.
        got: usize,
        /// The format.
        format: SampleFormat,
    },
    /// Two generated files came out identical (should never happen).
    #[error("generated files {0} and {1} are identical")]
    Duplicate(String, String),
}

/// What [`generate`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Number of images, at least 1.
    pub count: usize,
    /// Output directory (created if missing); files are `passport-000001.png` etc. and
    /// `manifest.json`.
    pub out_dir: PathBuf,
    /// Formats to write.
    pub formats: FormatMix,
    /// File size range `(min, max)` in bytes, each within
    /// [`MIN_TARGET_BYTES`]`..=`[`MAX_TARGET_BYTES`]. Each file aims at a size drawn from the
    /// range and lands inside it (a range narrower than ±5 % is widened to ±5 % of its middle).
    /// `None`: default resolution (about 254 dpi, a few hundred KB).
    pub size: Option<(usize, usize)>,
    /// Seed for truths, sizes and noise: the same options give the same files.
    pub seed: u64,
    /// Mix in scenario images (every 4th image, cycling through failure, low confidence, OCR
    /// noise, error, masked, driver's license, missing field, extra candidates).
    pub scenarios: bool,
    /// Draw every image with its own text (slow) instead of reusing a few drawn pages (fast).
    pub distinct_pixels: bool,
}

impl GenerateOptions {
    /// `count` mixed-format images into `out_dir`, default size, seed 1, no scenarios, shared
    /// pixels.
    pub fn new(count: usize, out_dir: impl Into<PathBuf>) -> GenerateOptions {
        GenerateOptions {
            count,
            out_dir: out_dir.into(),
            formats: FormatMix::Mixed,
            size: None,
            seed: 1,
            scenarios: false,
            distinct_pixels: false,
        }
    }

    fn validate(&self) -> Result<(), SampleError> {
        if self.count == 0 {
            return Err(SampleError::InvalidOptions(
                "count must be at least 1".into(),
            ));
        }
        if let Some((min, max)) = self.size {
            if min > max {
                return Err(SampleError::InvalidOptions(format!(
                    "minimum size {min} is larger than maximum size {max}"
                )));
            }
            render::check_target(min)?;
            render::check_target(max)?;
        }
        Ok(())
    }
}

/// SplitMix64 finaliser: a well-mixed 64-bit value from `seed` and `index`.
fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const SIZE_SALT: u64 = 0x5A5A_0000_51E5;

/// The scenario applied to the sample at 0-based `index` when scenarios are on: every 4th
/// image (indices 3, 7, 11, ...) cycles through eight kinds.
pub fn apply_scenario(truth: &mut Truth, index: usize) {
    if index % 4 != 3 {
        return;
    }
    match (index / 4) % 8 {
        0 => truth.recognition = Recognition::Failure,
        1 => truth.low_confidence = true,
        2 => {
            truth.noise.push(Noise::SexText);
            truth.noise.push(mrz_confusion(truth));
        }
        3 => truth.recognition = Recognition::Error,
        4 => truth.masked = true,
        5 => truth.recognition = Recognition::DriversLicense,
        6 => truth.noise.push(Noise::MissingField {
            field: "issueDate".into(),
        }),
        _ => truth.noise.push(Noise::ExtraCandidates {
            field: "num".into(),
        }),
    }
}

/// A typical OCR confusion (0/O, 1/I, 5/S, 8/B, 2/Z) on the first confusable character of MRZ
/// line 2, or a `<` read as `K` at the end of line 1.
fn mrz_confusion(truth: &Truth) -> Noise {
    let (_, line2) = truth.mrz_lines();
    let swap = |c: char| match c {
        '0' => Some('O'),
        'O' => Some('0'),
        '1' => Some('I'),
        'I' => Some('1'),
        '5' => Some('S'),
        'S' => Some('5'),
        '8' => Some('B'),
        'B' => Some('8'),
        '2' => Some('Z'),
        'Z' => Some('2'),
        _ => None,
    };
    line2
        .chars()
        .enumerate()
        .take(28)
        .find_map(|(position, c)| {
            swap(c).map(|with| Noise::MrzConfusion {
                line: 2,
                position,
                with,
            })
        })
        .unwrap_or(Noise::MrzConfusion {
            line: 1,
            position: 43,
            with: 'K',
        })
}

/// The truths for `opts`: one per image, with distinct passport numbers.
fn truths(opts: &GenerateOptions) -> Vec<Truth> {
    let mut seen = HashSet::new();
    (0..opts.count)
        .map(|i| {
            let mut salt = 0u64;
            let mut t = loop {
                let t = Truth::synthetic(mix(opts.seed, i as u64 ^ (salt << 40)));
                if seen.insert(t.number.clone()) {
                    break t;
                }
                salt += 1;
            };
            if opts.scenarios {
                apply_scenario(&mut t, i);
            }
            t
        })
        .collect()
}

/// Size window `(aim, lo, hi)` for a target `aim` drawn from `min..=max`: within ±15 % of the
/// aim and inside the range; a range narrower than ±5 % of its middle becomes middle ± 5 %.
fn window(aim: usize, min: usize, max: usize) -> (usize, usize, usize) {
    let middle = min + (max - min) / 2;
    if max - min < middle / 10 {
        return (middle, middle - middle / 20, middle + middle / 20);
    }
    let lo = min.max(aim - aim * 3 / 20);
    let hi = max.min(aim + aim * 3 / 20);
    (aim, lo, hi)
}

/// Number of shared pages per format in the fast mode with a size range.
const SHARED_PAGES: usize = 4;

/// How the bytes of each image are produced.
enum Source {
    /// Every image drawn on its own; per-image size window.
    Distinct(Vec<Option<(usize, usize, usize)>>),
    /// Shared encoded pages (without truth) per image index.
    Shared(Vec<Arc<Vec<u8>>>),
}

/// Write `opts.count` sample images and `manifest.json` into `opts.out_dir`.
///
/// Deterministic: the same options produce byte-identical files. Uses up to
/// `available_parallelism` threads.
pub fn generate(opts: &GenerateOptions) -> Result<Manifest, SampleError> {
    opts.validate()?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| SampleError::Io { path, source }
    };
    std::fs::create_dir_all(&opts.out_dir).map_err(io(&opts.out_dir))?;
    let truths = truths(opts);
    let formats: Vec<SampleFormat> = (0..opts.count)
        .map(|i| opts.formats.format_for(i))
        .collect();
    let aim_for = |i: usize, min: usize, max: usize| {
        let span = (max - min) as u64 + 1;
        min + (mix(opts.seed ^ SIZE_SALT, i as u64) % span) as usize
    };

    let source = if opts.distinct_pixels {
        Source::Distinct(
            (0..opts.count)
                .map(|i| {
                    opts.size
                        .map(|(min, max)| window(aim_for(i, min, max), min, max))
                })
                .collect(),
        )
    } else {
        shared_pages(opts, &truths, &formats)?
    };

    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(opts.count);
    let work = |i: usize| -> Result<ManifestEntry, SampleError> {
        let truth = &truths[i];
        let format = formats[i];
        let bytes = match &source {
            Source::Distinct(windows) => match windows[i] {
                None => render(truth, format, None)?,
                Some((aim, lo, hi)) => render::render_within(truth, format, aim, lo, hi)?,
            },
            Source::Shared(pages) => truth::embed(&pages[i], truth)?,
        };
        let file = format!("passport-{:06}.{}", i + 1, format.extension());
        let path = opts.out_dir.join(&file);
        std::fs::write(&path, &bytes).map_err(io(&path))?;
        Ok(ManifestEntry {
            file,
            format,
            bytes: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
            truth: truth.clone(),
        })
    };
    let mut entries: Vec<Option<ManifestEntry>> = vec![None; opts.count];
    std::thread::scope(|scope| -> Result<(), SampleError> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let work = &work;
                scope.spawn(move || {
                    (t..opts.count)
                        .step_by(threads)
                        .map(|i| work(i).map(|e| (i, e)))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        for h in handles {
            let done = h
                .join()
                .map_err(|_| SampleError::InvalidOptions("a generator thread panicked".into()))??;
            for (i, e) in done {
                entries[i] = Some(e);
            }
        }
        Ok(())
    })?;
    let entries: Vec<ManifestEntry> = entries.into_iter().flatten().collect();

    let mut seen = HashMap::new();
    for e in &entries {
        if let Some(other) = seen.insert(e.sha256.as_str(), e.file.as_str()) {
            return Err(SampleError::Duplicate(other.into(), e.file.clone()));
        }
    }
    let manifest = Manifest { entries };
    manifest.write(&opts.out_dir.join(MANIFEST_FILE))?;
    Ok(manifest)
}

/// Fast mode: draw a few pages per format (one without a size range, up to
/// [`SHARED_PAGES`] spread over the range with one) and assign them round-robin per format.
/// Page `k` of a format shows the truth of the first image that uses it.
fn shared_pages(
    opts: &GenerateOptions,
    truths: &[Truth],
    formats: &[SampleFormat],
) -> Result<Source, SampleError> {
    let per_format = if opts.size.is_some() { SHARED_PAGES } else { 1 };
    let mut pages: HashMap<(SampleFormat, usize), Arc<Vec<u8>>> = HashMap::new();
    let mut counters: HashMap<SampleFormat, usize> = HashMap::new();
    let mut assigned = Vec::with_capacity(opts.count);
    for (i, &format) in formats.iter().enumerate() {
        let n = counters.entry(format).or_insert(0);
        let k = *n % per_format;
        *n += 1;
        let page = match pages.entry((format, k)) {
            Entry::Occupied(e) => e.get().clone(),
            Entry::Vacant(v) => {
                let window = opts.size.map(|(min, max)| {
                    let aim = min + (max - min) * (2 * k + 1) / (2 * per_format);
                    window(aim, min, max)
                });
                let raw = render::render_raw(&truths[i], format, window)?;
                v.insert(Arc::new(raw)).clone()
            }
        };
        assigned.push(page);
    }
    Ok(Source::Shared(assigned))
}
