//! The `--checkpoint` file: for each target, the low-water mark of its listing (see
//! [`super::watermark`]) and whether it is complete. JSON, versioned, keyed by target,
//! replaced atomically (a temporary file beside it, fsync, rename, fsync of the directory), so
//! a crash at any instant leaves either the old file or the new one, never a torn one.
//!
//! ```json
//! {
//!   "version": 1,
//!   "options": "suffix=.jpg,.png min_size=- ... include_archived=false force_ocr=false",
//!   "targets": {
//!     "s3://scans/2026/": { "after": "2026/07/0412.jpg", "complete": false,
//!                           "confirmed": 41200, "updated_at": "2026-12-02T10:00:00Z" }
//!   }
//! }
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

/// The checkpoint of a run over one or more targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// The run's filter and job options (a resume with others is refused: the keys under
    /// the marks were judged by these).
    pub options: String,
    /// By target (`s3://bucket/prefix`).
    pub targets: BTreeMap<String, TargetState>,
}

/// Where one target's listing stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    /// The low-water mark: every key up to and including it has a confirmed job or was
    /// skipped; a resume lists after it. `None`: from the beginning.
    pub after: Option<String>,
    /// The listing reached its end with everything under the mark: a resume skips it.
    pub complete: bool,
    /// Jobs confirmed under the mark, over every run.
    pub confirmed: u64,
    /// When this entry was written.
    pub updated_at: DateTime<Utc>,
}

/// Why a checkpoint could not be read, written or used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing the file failed.
    #[error("checkpoint {}: {source}", path.display())]
    Io {
        /// The checkpoint file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a checkpoint.
    #[error("checkpoint {} is not a valid checkpoint: {reason}", path.display())]
    Malformed {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong (shape only).
        reason: String,
    },
    /// Another version of the format.
    #[error(
        "checkpoint {} has format version {found}; this build reads version {VERSION}",
        path.display()
    )]
    Version {
        /// The checkpoint file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
    },
    /// The file exists and `--resume` was not given.
    #[error(
        "checkpoint {} already exists: pass --resume to continue from it, or remove it to \
         start over",
        path.display()
    )]
    Exists {
        /// The checkpoint file.
        path: PathBuf,
    },
    /// A resume with other filter or job options than the run that wrote the checkpoint.
    #[error(
        "checkpoint {} was written with other options ({then}); resume with the same \
         --suffix/--min-size/--max-size/--modified-*/--include-archived/--force-ocr, or start \
         over with a new checkpoint (now: {now})",
        path.display()
    )]
    OptionsChanged {
        /// The checkpoint file.
        path: PathBuf,
        /// The options in the file.
        then: String,
        /// The options of this run.
        now: String,
    },
}

impl Checkpoint {
    /// An empty checkpoint for a run with `options`.
    pub fn new(options: String) -> Self {
        Checkpoint {
            version: VERSION,
            options,
            targets: BTreeMap::new(),
        }
    }

    /// Parse a checkpoint file's bytes.
    pub fn from_json(path: &Path, bytes: &[u8]) -> Result<Self, CheckpointError> {
        let malformed = |e: serde_json::Error| CheckpointError::Malformed {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(malformed)?;
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(VERSION) => {}
            Some(found) => {
                return Err(CheckpointError::Version {
                    path: path.to_path_buf(),
                    found,
                });
            }
            None => {
                return Err(CheckpointError::Malformed {
                    path: path.to_path_buf(),
                    reason: "no numeric `version`".into(),
                });
            }
        }
        serde_json::from_value(value).map_err(malformed)
    }

    /// The file's bytes (pretty JSON and a final newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a checkpoint serialises");
        bytes.push(b'\n');
        bytes
    }

    /// Read `path`; `Ok(None)` when there is no such file.
    pub fn load(path: &Path) -> Result<Option<Self>, CheckpointError> {
        match std::fs::read(path) {
            Ok(bytes) => Self::from_json(path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CheckpointError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Refuse to resume from a checkpoint written with other options.
    pub fn check_options(&self, path: &Path, options: &str) -> Result<(), CheckpointError> {
        if self.options == options {
            Ok(())
        } else {
            Err(CheckpointError::OptionsChanged {
                path: path.to_path_buf(),
                then: self.options.clone(),
                now: options.to_string(),
            })
        }
    }

    /// Replace `path` atomically: write `<path>.tmp`, fsync it, rename it over `path`, fsync
    /// the directory (so the rename itself survives a power cut).
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let io = |source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        };
        let tmp = temp_path(path);
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&self.to_json()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }
}

/// `<path>.tmp`, in the same directory (a rename is only atomic within one file system).
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        let mut c = Checkpoint::new("suffix=- force_ocr=false".into());
        c.targets.insert(
            "s3://scans/2026/".into(),
            TargetState {
                after: Some("2026/0412.jpg".into()),
                complete: false,
                confirmed: 412,
                updated_at: DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
                    .unwrap()
                    .to_utc(),
            },
        );
        c.targets.insert(
            "s3://other/".into(),
            TargetState {
                after: None,
                complete: true,
                confirmed: 0,
                updated_at: DateTime::parse_from_rfc3339("2026-12-02T10:00:01Z")
                    .unwrap()
                    .to_utc(),
            },
        );
        c
    }

    #[test]
    fn a_checkpoint_round_trips_through_its_file_and_the_format_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backfill.json");
        assert_eq!(Checkpoint::load(&path).unwrap(), None);
        let c = sample();
        c.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), Some(c.clone()));
        assert!(
            !temp_path(&path).exists(),
            "the temporary file is renamed away"
        );
        // The documented shape, field by field.
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["version"], 1);
        let t = &v["targets"]["s3://scans/2026/"];
        assert_eq!(t["after"], "2026/0412.jpg");
        assert_eq!(t["complete"], false);
        assert_eq!(t["confirmed"], 412);
        assert_eq!(t["updated_at"], "2026-12-02T10:00:00Z");
        assert_eq!(
            v["targets"]["s3://other/"]["after"],
            serde_json::Value::Null
        );
        // Saving again replaces it whole.
        let mut d = c;
        d.targets.remove("s3://other/");
        d.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), Some(d));
    }

    #[test]
    fn a_stale_temporary_file_from_a_crash_does_not_matter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        std::fs::write(temp_path(&path), b"{\"version\": 1, \"torn").unwrap();
        sample().save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), Some(sample()));
    }

    #[test]
    fn other_versions_and_other_shapes_are_refused_by_name() {
        let p = Path::new("cp.json");
        let e = Checkpoint::from_json(p, br#"{"version": 2, "targets": {}}"#).unwrap_err();
        assert!(
            matches!(e, CheckpointError::Version { found: 2, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("version 2"), "{e}");
        for bad in [
            &b"not json"[..],
            br#"{"targets": {}}"#,
            br#"{"version": 1, "options": "x", "targets": {"s3://a/": {"after": 3}}}"#,
            br#"[1]"#,
        ] {
            let e = Checkpoint::from_json(p, bad).unwrap_err();
            assert!(matches!(e, CheckpointError::Malformed { .. }), "{e}");
        }
    }

    #[test]
    fn a_resume_with_other_options_is_refused() {
        let c = sample();
        let p = Path::new("cp.json");
        assert!(c.check_options(p, "suffix=- force_ocr=false").is_ok());
        let e = c
            .check_options(p, "suffix=.png force_ocr=false")
            .unwrap_err();
        assert!(e.to_string().contains("other options"), "{e}");
    }
}
