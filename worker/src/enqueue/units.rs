//! The few units a backfill's flags and reports speak: byte sizes (`10KB`, `5MiB`), a latency
//! (`1.5`, `800ms`), and the human forms of sizes and durations in the dry-run text.

use std::time::Duration;

/// A byte size: a whole or decimal number, then an optional unit, case-insensitive: `B`; SI
/// `K`/`KB`, `M`/`MB`, `G`/`GB`, `T`/`TB` (powers of 1000); binary `KiB`, `MiB`, `GiB`,
/// `TiB` (powers of 1024). A fraction of a byte is dropped (`1.0005KB` is 1000 bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)"
            ));
        }
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(format!(
            "`{text}`: expected a number of bytes, e.g. 10KB or 5MiB"
        ));
    }
    if fraction.len() > 18 {
        return Err(format!("`{text}`: too many decimals"));
    }
    let too_large = || format!("`{text}`: too large");
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let scale = 10u128.pow(u32::try_from(fraction.len()).unwrap_or(0));
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| too_large())?
    };
    let m = u128::from(multiplier);
    let bytes = whole
        .checked_mul(m)
        .and_then(|w| w.checked_add(fraction * m / scale))
        .ok_or_else(too_large)?;
    u64::try_from(bytes).map_err(|_| too_large())
}

/// A latency: seconds as a decimal number (`1.5`, `2s`) or milliseconds (`800ms`). Zero is
/// allowed (the quota is then the rate alone).
pub fn parse_latency(text: &str) -> Result<Duration, String> {
    let t = text.trim().to_ascii_lowercase();
    let (number, per_second) = if let Some(ms) = t.strip_suffix("ms") {
        (ms.trim(), 1000.0)
    } else {
        (t.strip_suffix('s').unwrap_or(&t).trim(), 1.0)
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected seconds (e.g. 1.5) or milliseconds (800ms)"))?;
    if !value.is_finite() || value < 0.0 || value / per_second > 3600.0 {
        return Err(format!("`{text}`: must be between 0 and 3600 seconds"));
    }
    Ok(Duration::from_secs_f64(value / per_second))
}

/// `1 234 567` (thin groups of three, for counts in the dry-run text).
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A size for people: `512 B`, `10.0 KB`, `5.2 MB`, `1.3 GB` (SI, one decimal).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration for people: `45 s`, `3 min 20 s`, `2 h 05 min`, `3 d 4 h`.
pub fn human_duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "forever".into();
    }
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_plain_si_and_binary_units() {
        for (text, bytes) in [
            ("0", 0),
            ("100", 100),
            ("100B", 100),
            ("10KB", 10_000),
            ("10kb", 10_000),
            ("10 K", 10_000),
            ("5MiB", 5 * 1024 * 1024),
            ("5mib", 5 * 1024 * 1024),
            ("1.5KiB", 1536),
            ("1.5MB", 1_500_000),
            (".5KB", 500),
            ("1.0005KB", 1000),
            ("2GB", 2_000_000_000),
            ("1TiB", 1 << 40),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in [
            "",
            "KB",
            "-1",
            "1.2.3",
            "10 parsecs",
            "1e3",
            "18446744073709551616",
            "99999999TB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn latencies_read_seconds_or_milliseconds() {
        assert_eq!(parse_latency("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_latency("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_latency("800ms"), Ok(Duration::from_millis(800)));
        assert_eq!(parse_latency("0"), Ok(Duration::ZERO));
        for bad in ["", "soon", "-1", "NaN", "inf", "3601"] {
            assert!(parse_latency(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn people_read_grouped_counts_sizes_and_durations() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1 000");
        assert_eq!(group(1_234_567), "1 234 567");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(10_000), "10.0 KB");
        assert_eq!(human_bytes(5_242_880), "5.2 MB");
        assert_eq!(human_bytes(999_990_000), "1.0 GB");
        assert_eq!(human_duration(44.6), "45 s");
        assert_eq!(human_duration(200.0), "3 min 20 s");
        assert_eq!(human_duration(7500.0), "2 h 05 min");
        assert_eq!(human_duration(273_600.0), "3 d 4 h");
        assert_eq!(human_duration(f64::INFINITY), "forever");
    }
}
