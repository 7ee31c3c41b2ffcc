//! The passport OCR worker: RabbitMQ job → S3 image → CLOVA OCR → result or dead letter.
//!
//! # Layout
//! - [`config`]: typed, layered settings (defaults, TOML file, environment/flags), validated.
//! - [`app`]: `Application::build` (shared by `main` and the tests) and `run_until`.
//! - [`consumer`]: broker sessions, one task per delivery, ack only after a confirmed outcome.
//! - [`pipeline`]: one job: allow-list → fetch → format check → OCR with retries → normalize.
//! - [`amqp`]: connecting, topology, confirmed mandatory publishing.
//! - [`storage`]: the S3 edge ([`storage::ObjectStore`]).
//! - [`result_store`]: results and dead letters kept in S3; the lookup that reuses a paid answer.
//! - [`ocr`]: the CLOVA edge ([`ocr::OcrApi`]).
//! - [`limiter`]: calls-per-second and simultaneous-call limits, adaptive on 0025.
//! - [`health`]: `/healthz`, `/readyz`, `/metrics`, the status page `/`.
//! - [`status`]: queue figures from the broker, the status document, `ocr-worker status`.
//! - [`metrics`]: Prometheus metrics.
//! - [`enqueue`]: backfill: list S3 prefixes, filter, publish one job per object, checkpointed.
//! - [`summary`]: read outcomes back and count them (demo, smoke tests).
//! - [`dlq`]: dead letters: counts and listings that remove nothing, confirmed replay.
//! - [`telemetry`]: logging set-up.

pub mod amqp;
pub mod app;
pub mod config;
pub mod consumer;
pub mod dlq;
pub mod enqueue;
pub mod health;
pub mod image_gate;
pub mod limiter;
pub mod metrics;
pub mod ocr;
pub mod pipeline;
pub mod presence;
pub mod result_store;
pub mod status;
pub mod storage;
pub mod summary;
pub mod telemetry;
