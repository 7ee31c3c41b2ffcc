//! Local stand-ins for the worker's outside world, usable in-process (tests bind port 0) or
//! through the `ocr-infra` binary.
//!
//! # Layout
//! - [`truth`]: ground truth embedded in sample images (PNG `iTXt`, JPEG `COM`).
//! - [`emulator`]: the CLOVA OCR ID-card endpoint emulator with quota, faults and admin API.
//! - [`samples`]: synthetic passport image generator with a ground-truth manifest.
//! - [`s3`]: an S3-protocol server (s3s-fs) that checks SigV4 signatures.

pub mod emulator;
pub mod s3;
pub mod samples;
pub mod truth;
