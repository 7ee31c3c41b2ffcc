//! Logging set-up. Log lines carry job ids, error kinds and counts, never personal data.
//!
//! `RUST_LOG` replaces the default level filter, but never turns lapin's own logs on: lapin
//! logs a returned message in full at WARN (passport data included), and its error lines
//! duplicate the worker's own session-end line. So lapin's events are dropped by a filter that
//! no `RUST_LOG` reaches, and `lapin=off` is appended to whatever `RUST_LOG` says.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::LogFormat;

/// The filter used when `RUST_LOG` is unset or invalid.
pub const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn";

/// Targets whose events never reach the log, whatever `RUST_LOG` says.
pub const SILENCED_TARGETS: [&str; 2] = ["lapin", "amq_protocol"];

/// The filter directives for `rust_log` (the value of `RUST_LOG`, if any): the user's
/// directives minus any that name a silenced target, then `<target>=off` for each.
pub fn filter_directives(rust_log: Option<&str>) -> String {
    let user = rust_log
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_FILTER);
    let mut kept: Vec<&str> = user
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| {
            let target = d.split(['=', '[']).next().unwrap_or("");
            !SILENCED_TARGETS
                .iter()
                .any(|t| target == *t || target.starts_with(&format!("{t}::")))
        })
        .collect();
    let off: Vec<String> = SILENCED_TARGETS
        .iter()
        .map(|t| format!("{t}=off"))
        .collect();
    kept.extend(off.iter().map(String::as_str));
    kept.join(",")
}

fn silenced(target: &str) -> bool {
    SILENCED_TARGETS
        .iter()
        .any(|t| target == *t || target.starts_with(&format!("{t}::")))
}

/// Install the global subscriber (`RUST_LOG` overrides the default `info`; lapin stays off).
pub fn init(format: LogFormat) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = EnvFilter::try_new(filter_directives(rust_log.as_deref()))
        .unwrap_or_else(|_| EnvFilter::new(filter_directives(None)));
    // Belt and braces: a span-scoped directive (`[span]=trace`) could still enable an event
    // inside a matching span; this layer drops lapin's events regardless.
    let never_lapin = filter_fn(|meta| !silenced(meta.target()));
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(never_lapin);
    let _ = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_ansi(ansi),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(ansi),
            )
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lapin_stays_off_whatever_rust_log_says() {
        for user in [
            None,
            Some("trace"),
            Some("debug,lapin=trace"),
            Some("lapin::channel=trace,ocr_worker=debug"),
            Some("lapin[session]=trace"),
            Some(""),
        ] {
            let d = filter_directives(user);
            assert!(d.ends_with("lapin=off,amq_protocol=off"), "{user:?}: {d}");
            let on = d
                .split(',')
                .filter(|x| x.starts_with("lapin") && !x.ends_with("=off"))
                .count();
            assert_eq!(on, 0, "{user:?}: {d}");
            EnvFilter::try_new(&d).expect("valid directives");
        }
        assert!(filter_directives(Some("ocr_worker=debug")).starts_with("ocr_worker=debug,"));
        assert!(filter_directives(None).starts_with("info,"));
        assert!(silenced("lapin::channel") && silenced("lapin"));
        assert!(!silenced("lapinou") && !silenced("ocr_worker::amqp"));
    }
}
