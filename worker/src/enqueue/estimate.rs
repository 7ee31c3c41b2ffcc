//! The dry run's arithmetic: how long the OCR domain needs for a backfill.
//!
//! Every object that passes the filters is one OCR call. The domain allows `rate` calls per
//! second and `concurrency` calls at once; with calls taking `latency` each, concurrency alone
//! allows `concurrency ÷ latency` calls per second (Little's law). The domain sustains the
//! smaller of the two, whatever the number of replicas (they share these limits), so
//!
//! ```text
//! time = objects ÷ min(rate, concurrency ÷ latency)
//! ```

use std::time::Duration;

use serde::Serialize;

use super::units::{group, human_bytes, human_duration};

/// The default of `--ocr-latency`. CLOVA publishes no latency figure; two seconds is a
/// judgement for one passport scan of a few hundred KB to a few MB (upload plus ID-card
/// inference), on the slow side so that an estimate errs long rather than promising a backfill
/// the domain cannot deliver. Measure yours from the worker's
/// `ocr_worker_ocr_call_duration_seconds` histogram and pass it.
pub const DEFAULT_OCR_LATENCY: &str = "2s";

/// Which limit the time is bound by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// `CLOVA_OCR_RATE_PER_SEC`.
    Rate,
    /// `CLOVA_OCR_MAX_CONCURRENCY` ÷ latency.
    Concurrency,
}

/// A dry run's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Objects that would become jobs.
    pub objects: u64,
    /// Their total size.
    pub bytes: u64,
    /// OCR calls they need (one each).
    pub ocr_calls: u64,
    /// The domain's calls per second.
    pub rate_per_sec: f64,
    /// The domain's simultaneous calls.
    pub max_concurrency: u32,
    /// The assumed time of one call, in seconds.
    pub ocr_latency_secs: f64,
    /// Calls per second the domain sustains: min(rate, concurrency ÷ latency).
    pub calls_per_sec: f64,
    /// Which of the two it is.
    pub bound: Bound,
    /// `ocr_calls ÷ calls_per_sec`.
    pub estimated_secs: f64,
}

/// The estimate for `objects` of `bytes` in all, on a domain of `rate_per_sec` and
/// `max_concurrency`, with calls of `latency`.
pub fn estimate(
    objects: u64,
    bytes: u64,
    rate_per_sec: f64,
    max_concurrency: u32,
    latency: Duration,
) -> Estimate {
    let rate = rate_per_sec;
    let latency_secs = latency.as_secs_f64();
    let by_concurrency = if latency_secs > 0.0 {
        f64::from(max_concurrency) / latency_secs
    } else {
        f64::INFINITY
    };
    let (calls_per_sec, bound) = if by_concurrency < rate {
        (by_concurrency, Bound::Concurrency)
    } else {
        (rate, Bound::Rate)
    };
    let estimated_secs = if objects == 0 {
        0.0
    } else if calls_per_sec > 0.0 {
        objects as f64 / calls_per_sec
    } else {
        f64::INFINITY
    };
    Estimate {
        objects,
        bytes,
        ocr_calls: objects,
        rate_per_sec,
        max_concurrency,
        ocr_latency_secs: latency_secs,
        calls_per_sec,
        bound,
        estimated_secs,
    }
}

impl Estimate {
    /// The figures for people, one per line.
    pub fn explain(&self) -> String {
        let per_sec = |x: f64| {
            format!("{x:.2}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        };
        let by_concurrency = if self.ocr_latency_secs > 0.0 {
            f64::from(self.max_concurrency) / self.ocr_latency_secs
        } else {
            f64::INFINITY
        };
        format!(
            "objects: {} ({}, {} bytes)\n\
             estimated OCR calls: {}\n\
             time at the domain's quota: {} = {} calls ÷ {}/s, min(rate {}/s, concurrency {} ÷ \
             {} s latency = {}/s), bound by {}",
            group(self.objects),
            human_bytes(self.bytes),
            group(self.bytes),
            group(self.ocr_calls),
            human_duration(self.estimated_secs),
            group(self.ocr_calls),
            per_sec(self.calls_per_sec),
            per_sec(self.rate_per_sec),
            self.max_concurrency,
            per_sec(self.ocr_latency_secs),
            per_sec(by_concurrency),
            match self.bound {
                Bound::Rate => "the rate (CLOVA_OCR_RATE_PER_SEC)",
                Bound::Concurrency => "the concurrency (CLOVA_OCR_MAX_CONCURRENCY ÷ --ocr-latency)",
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(objects: u64, rate: f64, concurrency: u32, latency_ms: u64, per_sec: f64, secs: f64) {
        let e = estimate(
            objects,
            0,
            rate,
            concurrency,
            Duration::from_millis(latency_ms),
        );
        assert!(
            (e.calls_per_sec - per_sec).abs() < 1e-9,
            "{objects} {rate} {concurrency} {latency_ms}: {e:?}"
        );
        assert!((e.estimated_secs - secs).abs() < 1e-6, "{e:?}");
        assert_eq!(e.ocr_calls, objects);
    }

    #[test]
    fn the_time_is_objects_over_the_smaller_of_rate_and_concurrency_over_latency() {
        // Defaults: rate 10/s, 4 at once, 2 s each: 2 calls/s, bound by concurrency.
        check(1000, 10.0, 4, 2000, 2.0, 500.0);
        // 40/s, 8 at once, 100 ms: concurrency allows 80/s, so the rate binds.
        check(1000, 40.0, 8, 100, 40.0, 25.0);
        // Exactly equal: 10/s either way.
        check(50, 10.0, 15, 1500, 10.0, 5.0);
        // No latency: only the rate.
        check(30, 3.0, 1, 0, 3.0, 10.0);
        // A fractional rate: half a call per second.
        check(30, 0.5, 4, 2000, 0.5, 60.0);
        // Nothing to do takes no time.
        check(0, 10.0, 4, 2000, 2.0, 0.0);
        assert_eq!(
            estimate(1, 0, 10.0, 4, Duration::from_secs(2)).bound,
            Bound::Concurrency
        );
        assert_eq!(
            estimate(1, 0, 10.0, 40, Duration::from_secs(2)).bound,
            Bound::Rate
        );
    }

    #[test]
    fn the_explanation_shows_the_arithmetic() {
        let e = estimate(12_345, 6_012_345_678, 10.0, 4, Duration::from_millis(1500));
        let text = e.explain();
        assert!(
            text.contains("objects: 12 345 (6.0 GB, 6 012 345 678 bytes)"),
            "{text}"
        );
        assert!(text.contains("estimated OCR calls: 12 345"), "{text}");
        // 4 ÷ 1.5 = 2.67/s < 10/s: 12 345 ÷ 2.667 = 4 629 s.
        assert!(
            text.contains("1 h 17 min = 12 345 calls ÷ 2.67/s"),
            "{text}"
        );
        assert!(
            text.contains("concurrency 4 ÷ 1.5 s latency = 2.67/s"),
            "{text}"
        );
        assert!(text.contains("bound by the concurrency"), "{text}");
    }
}
