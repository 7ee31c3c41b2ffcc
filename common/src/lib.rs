//! Pure core of the passport OCR worker. No I/O, no async, no clocks read inside:
//! everything here is a function of its inputs so it can be tested table-driven and fuzzed.
//!
//! # Layout
//! - [`job`]: the job message, parsed and validated.
//! - [`intake`]: what a message asks for: a job, or a bucket event that asks for none
//!   ([`intake::Intake`], [`intake::IgnoredEvent`]), SNS envelopes.
//! - [`s3_event`]: S3/MinIO bucket events (notifications, test events, EventBridge) as jobs.
//! - [`lane`]: the bulk and priority lanes, and the bulk floor's arithmetic.
//! - [`format`]: image format detection from magic bytes; single-page and truncation checks.
//! - [`failure`]: the error taxonomy and the disposition each error gets.
//! - [`message`]: result and dead-letter messages.
//! - [`retry`]: the retry policy: what a finished attempt turns into ([`retry::decide`]).
//! - [`mrz`]: ICAO 9303 TD3 machine readable zone: check digits, composing, parsing, repair.
//! - [`clova`]: typed model of the CLOVA OCR ID-card response and error bodies.
//! - [`country`]: country name → ICAO code table for cross-checking the visual zone.
//! - [`normalize`]: CLOVA `pp` result → normalized passport record with checks and warnings.
//! - [`trace`]: W3C `traceparent`, validated, carried from a job onto its outcome.
//! - [`result_entry`]: the result store's entry for one image, and its key.

pub mod clova;
pub mod country;
pub mod failure;
pub mod format;
pub mod intake;
pub mod job;
pub mod lane;
pub mod message;
pub mod mrz;
pub mod normalize;
pub mod result_entry;
pub mod retry;
pub mod s3_event;
pub mod trace;
