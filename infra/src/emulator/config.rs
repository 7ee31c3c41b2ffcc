//! Emulator configuration: identity (secret, domain, invoke key), limits, quota, latency, faults.
//!
//! Everything here can be given at start-up (CLI flags or a JSON file) and, except the listen
//! address, changed at run time through `PUT /_emulator/config` with a partial JSON document.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Default cap on one image's decoded size: the general CLOVA endpoint allows 50 MB.
pub const DEFAULT_MAX_IMAGE_BYTES: usize = 50 * 1024 * 1024;

/// Default duration of an injected hang: longer than any sane client timeout.
pub const DEFAULT_HANG_MS: u64 = 600_000;

/// Placeholder shown instead of the secret wherever a configuration is printed or returned.
pub const REDACTED: &str = "<redacted>";

/// Errors in an emulator configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A latency specification could not be parsed.
    #[error("invalid latency {spec:?}: {reason}")]
    Latency {
        /// The text given.
        spec: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A fault probability is outside `[0, 1]` or the probabilities add up to more than 1.
    #[error("invalid fault probabilities: {0}")]
    Faults(String),
    /// A value is out of range (e.g. an empty secret or a zero cap).
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A configuration document (file or admin patch) is not valid JSON for this type.
    #[error("invalid configuration JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Complete configuration of one emulator instance.
///
/// `Default` is the local development set-up: secret `local-secret`, domain id `demo`, invoke key
/// `local`, no quota, zero latency, no faults, 50 MB images.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Expected `X-OCR-SECRET` header value.
    pub secret: String,
    /// Domain id in the invoke URL (`/custom/v1/{domain_id}/{invoke_key}`).
    pub domain_id: String,
    /// Invoke key in the invoke URL.
    pub invoke_key: String,
    /// Largest accepted decoded image, in bytes; larger images get 400/0011.
    pub max_image_bytes: usize,
    /// Cap on simultaneous calls (admitted and not yet answered); above it: 400/0025.
    pub max_concurrency: Option<u32>,
    /// Cap on calls admitted in any sliding one-second window; above it: 400/0025.
    pub rate_per_sec: Option<u32>,
    /// Number of billed calls after which every call gets 400/0023 (until reset).
    pub period_quota: Option<u64>,
    /// Simulated recognition time.
    pub latency: Latency,
    /// Injected failures.
    pub faults: Faults,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            secret: "local-secret".into(),
            domain_id: "demo".into(),
            invoke_key: "local".into(),
            max_image_bytes: DEFAULT_MAX_IMAGE_BYTES,
            max_concurrency: None,
            rate_per_sec: None,
            period_quota: None,
            latency: Latency::default(),
            faults: Faults::default(),
        }
    }
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("secret", &REDACTED)
            .field("domain_id", &self.domain_id)
            .field("invoke_key", &self.invoke_key)
            .field("max_image_bytes", &self.max_image_bytes)
            .field("max_concurrency", &self.max_concurrency)
            .field("rate_per_sec", &self.rate_per_sec)
            .field("period_quota", &self.period_quota)
            .field("latency", &self.latency)
            .field("faults", &self.faults)
            .finish()
    }
}

impl EmulatorConfig {
    /// Check ranges: non-empty identity, caps above zero, fault probabilities in `[0, 1]`
    /// adding up to at most 1, sane latency bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let segment_ok = |s: &str| !s.is_empty() && !s.contains('/');
        if self.secret.is_empty() {
            return Err(ConfigError::Invalid("secret must not be empty".into()));
        }
        if !segment_ok(&self.domain_id) || !segment_ok(&self.invoke_key) {
            return Err(ConfigError::Invalid(
                "domain_id and invoke_key must be non-empty path segments".into(),
            ));
        }
        if self.max_image_bytes == 0 {
            return Err(ConfigError::Invalid("max_image_bytes must be > 0".into()));
        }
        if self.max_concurrency == Some(0) || self.rate_per_sec == Some(0) {
            return Err(ConfigError::Invalid(
                "max_concurrency and rate_per_sec must be > 0 (omit them for no cap)".into(),
            ));
        }
        self.latency.validate()?;
        self.faults.validate()
    }

    /// This configuration as JSON with the secret replaced by [`REDACTED`].
    pub fn to_redacted_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = value.as_object_mut() {
            obj.insert("secret".into(), REDACTED.into());
        }
        value
    }

    /// Apply a partial JSON document (objects merge recursively, anything else replaces) and
    /// validate the result. A `secret` equal to [`REDACTED`] is ignored, so a document read
    /// from `GET /_emulator/config` can be sent back as is.
    pub fn patched(&self, patch: serde_json::Value) -> Result<EmulatorConfig, ConfigError> {
        let mut base = serde_json::to_value(self)?;
        let mut patch = patch;
        if let Some(obj) = patch.as_object_mut()
            && obj.get("secret").and_then(|s| s.as_str()) == Some(REDACTED)
        {
            obj.remove("secret");
        }
        merge(&mut base, patch);
        let config: EmulatorConfig = serde_json::from_value(base)?;
        config.validate()?;
        Ok(config)
    }
}

fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
            for (key, value) in patch {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

/// Distribution of the simulated recognition time, written as a short string:
///
/// | text | meaning |
/// |---|---|
/// | `fixed:MS` or `MS` | always `MS` milliseconds |
/// | `uniform:MIN..MAX` | uniform in `[MIN, MAX]` ms |
/// | `jitter:MEAN+-J` (or `MEAN±J`) | uniform in `[MEAN-J, MEAN+J]` ms |
/// | `tail:BASE,P,TAIL` | `BASE` ms, but with probability `P` (0..1) `TAIL` ms |
/// | `lognormal:MEDIAN,SIGMA` | log-normal with that median (ms) and shape `SIGMA` |
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Latency {
    /// Always the same.
    Fixed {
        /// Milliseconds.
        ms: u64,
    },
    /// Uniform in `[min_ms, max_ms]`.
    Uniform {
        /// Lower bound, ms.
        min_ms: u64,
        /// Upper bound, ms.
        max_ms: u64,
    },
    /// Uniform in `[mean_ms - jitter_ms, mean_ms + jitter_ms]` (clamped at 0).
    Jitter {
        /// Centre, ms.
        mean_ms: u64,
        /// Half-width, ms.
        jitter_ms: u64,
    },
    /// Mostly `base_ms`, with probability `probability` a long `tail_ms`.
    Tail {
        /// Usual latency, ms.
        base_ms: u64,
        /// Probability of the long value, 0..1.
        probability: f64,
        /// Long latency, ms.
        tail_ms: u64,
    },
    /// Log-normal: `median_ms * exp(sigma * N(0,1))`, capped at 10 minutes.
    LogNormal {
        /// Median, ms.
        median_ms: f64,
        /// Shape (standard deviation of the log).
        sigma: f64,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed { ms: 0 }
    }
}

const LATENCY_CAP_MS: f64 = 600_000.0;

impl Latency {
    /// `true` when every sample is zero (the fast path skips the timer entirely).
    pub fn is_zero(&self) -> bool {
        matches!(self, Latency::Fixed { ms: 0 })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |reason| {
            Err(ConfigError::Latency {
                spec: self.to_string(),
                reason,
            })
        };
        match *self {
            Latency::Uniform { min_ms, max_ms } if min_ms > max_ms => bad("min above max"),
            Latency::Tail { probability, .. } if !(0.0..=1.0).contains(&probability) => {
                bad("tail probability must be in 0..1")
            }
            Latency::LogNormal { median_ms, sigma }
                if !(median_ms.is_finite()
                    && median_ms >= 0.0
                    && sigma.is_finite()
                    && sigma >= 0.0) =>
            {
                bad("median and sigma must be finite and >= 0")
            }
            _ => Ok(()),
        }
    }

    /// The distribution's mean, for a benchmark's target `slots ÷ mean latency` (the
    /// log-normal's is `median × e^(σ²/2)`; its 10-minute cap is ignored).
    pub fn mean(&self) -> Duration {
        let ms = match *self {
            Latency::Fixed { ms } => ms as f64,
            Latency::Uniform { min_ms, max_ms } => (min_ms + max_ms.max(min_ms)) as f64 / 2.0,
            // Clamped at 0 like the samples.
            Latency::Jitter { mean_ms, jitter_ms } => {
                let lo = mean_ms.saturating_sub(jitter_ms);
                (lo + mean_ms.saturating_add(jitter_ms)) as f64 / 2.0
            }
            Latency::Tail {
                base_ms,
                probability,
                tail_ms,
            } => {
                let p = probability.clamp(0.0, 1.0);
                base_ms as f64 * (1.0 - p) + tail_ms as f64 * p
            }
            Latency::LogNormal { median_ms, sigma } => median_ms * (sigma * sigma / 2.0).exp(),
        };
        Duration::from_secs_f64(ms.min(LATENCY_CAP_MS) / 1000.0)
    }

    /// Draw one latency.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        let ms = match *self {
            Latency::Fixed { ms } => ms,
            Latency::Uniform { min_ms, max_ms } => rng.random_range(min_ms..=max_ms.max(min_ms)),
            Latency::Jitter { mean_ms, jitter_ms } => rng.random_range(
                mean_ms.saturating_sub(jitter_ms)..=mean_ms.saturating_add(jitter_ms),
            ),
            Latency::Tail {
                base_ms,
                probability,
                tail_ms,
            } => {
                if rng.random_bool(probability.clamp(0.0, 1.0)) {
                    tail_ms
                } else {
                    base_ms
                }
            }
            Latency::LogNormal { median_ms, sigma } => {
                // Box-Muller: one standard normal from two uniforms.
                let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                let u2: f64 = rng.random();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (median_ms * (sigma * z).exp()).clamp(0.0, LATENCY_CAP_MS) as u64
            }
        };
        Duration::from_millis(ms)
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Latency::Fixed { ms } => write!(f, "fixed:{ms}"),
            Latency::Uniform { min_ms, max_ms } => write!(f, "uniform:{min_ms}..{max_ms}"),
            Latency::Jitter { mean_ms, jitter_ms } => write!(f, "jitter:{mean_ms}+-{jitter_ms}"),
            Latency::Tail {
                base_ms,
                probability,
                tail_ms,
            } => write!(f, "tail:{base_ms},{probability},{tail_ms}"),
            Latency::LogNormal { median_ms, sigma } => write!(f, "lognormal:{median_ms},{sigma}"),
        }
    }
}

impl From<Latency> for String {
    fn from(l: Latency) -> String {
        l.to_string()
    }
}

impl TryFrom<String> for Latency {
    type Error = ConfigError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for Latency {
    type Err = ConfigError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |reason| ConfigError::Latency {
            spec: spec.to_string(),
            reason,
        };
        let int = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| err("expected whole milliseconds"))
        };
        let float = |s: &str| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| err("expected a number"))
        };
        let (kind, rest) = spec
            .trim()
            .split_once(':')
            .unwrap_or(("fixed", spec.trim()));
        let latency = match kind.trim().to_ascii_lowercase().as_str() {
            "fixed" => Latency::Fixed { ms: int(rest)? },
            "uniform" => {
                let (a, b) = rest
                    .split_once("..")
                    .ok_or_else(|| err("expected MIN..MAX"))?;
                Latency::Uniform {
                    min_ms: int(a)?,
                    max_ms: int(b)?,
                }
            }
            "jitter" => {
                let (a, b) = rest
                    .split_once("+-")
                    .or_else(|| rest.split_once('±'))
                    .ok_or_else(|| err("expected MEAN+-JITTER"))?;
                Latency::Jitter {
                    mean_ms: int(a)?,
                    jitter_ms: int(b)?,
                }
            }
            "tail" => {
                let parts: Vec<&str> = rest.split(',').collect();
                let [base, p, tail] = parts[..] else {
                    return Err(err("expected BASE,P,TAIL"));
                };
                Latency::Tail {
                    base_ms: int(base)?,
                    probability: float(p)?,
                    tail_ms: int(tail)?,
                }
            }
            "lognormal" => {
                let (m, s) = rest
                    .split_once(',')
                    .ok_or_else(|| err("expected MEDIAN,SIGMA"))?;
                Latency::LogNormal {
                    median_ms: float(m)?,
                    sigma: float(s)?,
                }
            }
            _ => {
                return Err(err(
                    "unknown kind (fixed, uniform, jitter, tail, lognormal)",
                ));
            }
        };
        latency.validate()?;
        Ok(latency)
    }
}

/// Probabilities (each 0..1, together at most 1) of injected failures, drawn once per call
/// that passed authentication, quota and body validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// HTTP 500 with code `0500` ("Unknown service error.").
    pub error_0500: f64,
    /// HTTP 500 with code `0501` ("OCR service error.").
    pub error_0501: f64,
    /// No answer for [`Faults::hang_ms`] (or until shutdown), then the connection is closed.
    pub hang: f64,
    /// The connection is closed without any response.
    pub drop_connection: f64,
    /// A gateway-style HTTP 502 with an HTML body.
    pub gateway_502: f64,
    /// A gateway-style HTTP 503 with an HTML body.
    pub gateway_503: f64,
    /// HTTP 200 `application/json` whose body is not a CLOVA answer (cut short mid-object),
    /// as a misbehaving proxy or a truncated transfer would give.
    pub garbage_200: f64,
    /// How long a hang lasts, ms.
    pub hang_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_0500: 0.0,
            error_0501: 0.0,
            hang: 0.0,
            drop_connection: 0.0,
            gateway_502: 0.0,
            gateway_503: 0.0,
            garbage_200: 0.0,
            hang_ms: DEFAULT_HANG_MS,
        }
    }
}

/// One kind of injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// 500/0500.
    Error0500,
    /// 500/0501.
    Error0501,
    /// No answer until [`Faults::hang_ms`] passes.
    Hang,
    /// Connection closed without a response.
    DropConnection,
    /// Non-JSON 502.
    Gateway502,
    /// Non-JSON 503.
    Gateway503,
    /// 200 with an unreadable body.
    Garbage200,
}

impl FaultKind {
    /// Name used in stats (`faults` map).
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Error0500 => "error_0500",
            FaultKind::Error0501 => "error_0501",
            FaultKind::Hang => "hang",
            FaultKind::DropConnection => "drop_connection",
            FaultKind::Gateway502 => "gateway_502",
            FaultKind::Gateway503 => "gateway_503",
            FaultKind::Garbage200 => "garbage_200",
        }
    }
}

impl Faults {
    fn table(&self) -> [(FaultKind, f64); 7] {
        [
            (FaultKind::Error0500, self.error_0500),
            (FaultKind::Error0501, self.error_0501),
            (FaultKind::Hang, self.hang),
            (FaultKind::DropConnection, self.drop_connection),
            (FaultKind::Gateway502, self.gateway_502),
            (FaultKind::Gateway503, self.gateway_503),
            (FaultKind::Garbage200, self.garbage_200),
        ]
    }

    /// `true` when no fault can be drawn.
    pub fn is_none(&self) -> bool {
        self.table().iter().all(|(_, p)| *p == 0.0)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut sum = 0.0;
        for (kind, p) in self.table() {
            if !(0.0..=1.0).contains(&p) {
                return Err(ConfigError::Faults(format!(
                    "{} = {p} is outside 0..1",
                    kind.as_str()
                )));
            }
            sum += p;
        }
        if sum > 1.0 + 1e-9 {
            return Err(ConfigError::Faults(format!(
                "probabilities add up to {sum} > 1"
            )));
        }
        Ok(())
    }

    /// Draw at most one fault for a call.
    pub fn draw(&self, rng: &mut impl Rng) -> Option<FaultKind> {
        if self.is_none() {
            return None;
        }
        let x: f64 = rng.random();
        let mut acc = 0.0;
        for (kind, p) in self.table() {
            acc += p;
            if x < acc {
                return Some(kind);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_means() {
        let mean = |spec: &str| spec.parse::<Latency>().unwrap().mean().as_secs_f64() * 1000.0;
        assert_eq!(mean("uniform:100..150"), 125.0);
        assert_eq!(mean("jitter:100+-50"), 100.0);
        assert_eq!(mean("jitter:10+-50"), 30.0, "clamped at 0 like the samples");
        assert_eq!(mean("tail:100,0.5,300"), 200.0);
        assert!((mean("lognormal:150,0.5") - 169.97).abs() < 0.01);
        // The sample mean agrees with the formula.
        let l: Latency = "lognormal:150,0.5".parse().unwrap();
        let mut rng = rand::rng();
        let n = 20_000;
        let avg = (0..n)
            .map(|_| l.sample(&mut rng).as_secs_f64())
            .sum::<f64>()
            / n as f64;
        assert!((avg - l.mean().as_secs_f64()).abs() < 0.005, "{avg}");
    }

    #[test]
    fn latency_round_trips_through_text() {
        for spec in [
            "fixed:0",
            "uniform:50..150",
            "jitter:100+-50",
            "tail:20,0.05,2000",
            "lognormal:80,0.5",
        ] {
            let l: Latency = spec.parse().unwrap();
            assert_eq!(l.to_string(), spec);
        }
        assert_eq!("100±50".parse::<Latency>().ok(), None);
        assert_eq!(
            "jitter:100±50".parse::<Latency>().unwrap(),
            Latency::Jitter {
                mean_ms: 100,
                jitter_ms: 50
            }
        );
        assert_eq!("25".parse::<Latency>().unwrap(), Latency::Fixed { ms: 25 });
        assert!("uniform:5..1".parse::<Latency>().is_err());
        assert!("tail:1,2,3".parse::<Latency>().is_err());
        assert!("bogus:1".parse::<Latency>().is_err());
    }

    #[test]
    fn samples_stay_in_range() {
        let mut rng = rand::rng();
        let l: Latency = "jitter:100+-50".parse().unwrap();
        for _ in 0..1000 {
            let d = l.sample(&mut rng).as_millis();
            assert!((50..=150).contains(&d));
        }
        let l: Latency = "lognormal:50,1".parse().unwrap();
        for _ in 0..1000 {
            assert!(l.sample(&mut rng) <= Duration::from_secs(600));
        }
    }

    #[test]
    fn patch_merges_and_validates() {
        let base = EmulatorConfig::default();
        let patched = base
            .patched(serde_json::json!({"max_concurrency": 3, "faults": {"error_0500": 0.5}, "latency": "fixed:5"}))
            .unwrap();
        assert_eq!(patched.max_concurrency, Some(3));
        assert_eq!(patched.faults.error_0500, 0.5);
        assert_eq!(patched.faults.hang_ms, DEFAULT_HANG_MS);
        assert_eq!(patched.latency, Latency::Fixed { ms: 5 });
        assert_eq!(patched.secret, base.secret);
        let back = patched
            .patched(serde_json::json!({"max_concurrency": null}))
            .unwrap();
        assert_eq!(back.max_concurrency, None);
        assert!(
            base.patched(serde_json::json!({"faults": {"hang": 0.7, "error_0501": 0.7}}))
                .is_err()
        );
        assert!(
            base.patched(serde_json::json!({"no_such_field": 1}))
                .is_err()
        );
        let redacted = base.patched(base.to_redacted_json()).unwrap();
        assert_eq!(redacted, base);
        assert!(!format!("{base:?}").contains("local-secret"));
    }
}
