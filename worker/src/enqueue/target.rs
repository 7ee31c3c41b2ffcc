//! A backfill target, `s3://bucket/prefix`.

use std::fmt;

/// One bucket and key prefix to list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (may be empty: the whole bucket).
    pub prefix: String,
}

impl Target {
    /// Parse `s3://bucket/prefix` (or `s3://bucket`, the whole bucket).
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{url}`: a target is s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{url}`: no bucket"));
        }
        Ok(Target {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

/// The canonical form, `s3://bucket/prefix`: how the checkpoint names the target.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_canonically() {
        for (url, bucket, prefix, canonical) in [
            ("s3://scans/2026/", "scans", "2026/", "s3://scans/2026/"),
            ("s3://scans/a/b", "scans", "a/b", "s3://scans/a/b"),
            ("s3://scans/", "scans", "", "s3://scans/"),
            ("s3://scans", "scans", "", "s3://scans/"),
        ] {
            let t = Target::parse(url).unwrap();
            assert_eq!((t.bucket.as_str(), t.prefix.as_str()), (bucket, prefix));
            assert_eq!(t.to_string(), canonical);
            assert_eq!(Target::parse(canonical).unwrap(), t);
        }
        for bad in ["scans/2026", "s3://", "s3:///x", "http://scans/x"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
