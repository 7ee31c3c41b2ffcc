//! The ground-truth manifest written next to generated samples (`manifest.json`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{SampleError, SampleFormat};
use crate::truth::Truth;

/// File name of the manifest inside the output directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Every generated sample with its ground truth, in generation order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// One entry per image file.
    pub entries: Vec<ManifestEntry>,
}

/// One generated image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// File name relative to the manifest's directory, e.g. `passport-000001.png`.
    pub file: String,
    /// Image format.
    pub format: SampleFormat,
    /// File size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
    /// The truth embedded in the file (what [`Truth::of_image`] returns for it).
    pub truth: Truth,
}

impl Manifest {
    /// Read a manifest from a JSON file.
    pub fn read(path: &Path) -> Result<Manifest, SampleError> {
        let bytes = std::fs::read(path).map_err(|source| SampleError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Write the manifest as pretty-printed JSON.
    pub fn write(&self, path: &Path) -> Result<(), SampleError> {
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        std::fs::write(path, json).map_err(|source| SampleError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Sum of all file sizes in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.bytes).sum()
    }
}
