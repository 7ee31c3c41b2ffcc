//! Which listed objects become jobs: a pure function of what the listing says about each one
//! (key, size, last-modified time, storage class), so every rule is tested without a store.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// What a listing says about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The object key.
    pub key: String,
    /// Size in bytes (0 when the listing gave none).
    pub size: u64,
    /// `LastModified`, when the listing gave one.
    pub last_modified: Option<DateTime<Utc>>,
    /// `StorageClass` as the S3 API spells it (`STANDARD`, `GLACIER`, ...); `None` is STANDARD.
    pub storage_class: Option<String>,
    /// The ETag, quotes removed (`None` when the store lists none, as s3s-fs).
    pub etag: Option<String>,
}

/// Why an object was not enqueued. The rules are applied in this order and an object counts
/// under the first one it fails, so `Archived` counts exactly the objects that would have been
/// jobs had they been readable (the ones to restore).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A "directory" marker (key ending in `/`) or an empty object: never an image.
    Empty,
    /// The key has none of the `--suffix` endings.
    Suffix,
    /// Outside `--min-size`..=`--max-size`.
    Size,
    /// Outside `--modified-after`..`--modified-before` (or no `LastModified` to compare).
    Modified,
    /// In an archive storage class (GLACIER, DEEP_ARCHIVE): a GET would fail until restored.
    Archived,
}

/// Objects skipped, by [`Skip`] reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SkipCounts {
    /// [`Skip::Empty`].
    pub empty: u64,
    /// [`Skip::Suffix`].
    pub suffix: u64,
    /// [`Skip::Size`].
    pub size: u64,
    /// [`Skip::Modified`].
    pub modified: u64,
    /// [`Skip::Archived`].
    pub archived: u64,
}

impl SkipCounts {
    /// Count one skip.
    pub fn add(&mut self, skip: Skip) {
        *match skip {
            Skip::Empty => &mut self.empty,
            Skip::Suffix => &mut self.suffix,
            Skip::Size => &mut self.size,
            Skip::Modified => &mut self.modified,
            Skip::Archived => &mut self.archived,
        } += 1;
    }

    /// All skips.
    pub fn total(&self) -> u64 {
        self.empty + self.suffix + self.size + self.modified + self.archived
    }

    /// Both sets of counts together.
    pub fn plus(&self, o: &SkipCounts) -> SkipCounts {
        SkipCounts {
            empty: self.empty + o.empty,
            suffix: self.suffix + o.suffix,
            size: self.size + o.size,
            modified: self.modified + o.modified,
            archived: self.archived + o.archived,
        }
    }
}

/// Storage classes whose objects cannot be read without a restore. GLACIER_IR (Glacier
/// Instant Retrieval) is read like STANDARD, in milliseconds, so it is *not* one of them;
/// neither are STANDARD_IA, ONEZONE_IA or INTELLIGENT_TIERING (whose optional archive tiers a
/// listing does not show: such a GET fails and the job is dead-lettered as `object_archived`).
pub const ARCHIVE_CLASSES: [&str; 2] = ["GLACIER", "DEEP_ARCHIVE"];

/// Whether a listed storage class needs a restore before a GET.
pub fn is_archived(storage_class: Option<&str>) -> bool {
    storage_class.is_some_and(|c| ARCHIVE_CLASSES.iter().any(|a| c.eq_ignore_ascii_case(a)))
}

/// The `--suffix`, size, date and storage-class rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Key endings to keep, lower-cased (empty: every key).
    pub suffixes: Vec<String>,
    /// Smallest size kept, inclusive.
    pub min_size: Option<u64>,
    /// Largest size kept, inclusive.
    pub max_size: Option<u64>,
    /// Oldest `LastModified` kept, inclusive.
    pub modified_after: Option<DateTime<Utc>>,
    /// `LastModified` kept only when strictly before this. With `modified_after`, a half-open
    /// interval: runs sharing a boundary neither overlap nor leave a gap.
    pub modified_before: Option<DateTime<Utc>>,
    /// Enqueue archived objects too (after restoring them: a listing does not say whether an
    /// archived object has a restored copy).
    pub include_archived: bool,
}

impl Filter {
    /// A filter with `suffixes` normalised (lower-cased, empty entries dropped, a missing
    /// leading dot kept as written: `png` also matches `scan.apng`, so write `.png`).
    pub fn with_suffixes<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, suffixes: I) -> Self {
        self.suffixes = suffixes
            .into_iter()
            .map(|s| s.as_ref().trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        self
    }

    /// `Ok` when `obj` becomes a job, else the first rule it fails (see [`Skip`]).
    pub fn check(&self, obj: &Listed) -> Result<(), Skip> {
        if obj.key.ends_with('/') || obj.size == 0 {
            return Err(Skip::Empty);
        }
        if !self.suffixes.is_empty() {
            let key = obj.key.to_lowercase();
            if !self.suffixes.iter().any(|s| key.ends_with(s.as_str())) {
                return Err(Skip::Suffix);
            }
        }
        if self.min_size.is_some_and(|m| obj.size < m)
            || self.max_size.is_some_and(|m| obj.size > m)
        {
            return Err(Skip::Size);
        }
        if self.modified_after.is_some() || self.modified_before.is_some() {
            let Some(t) = obj.last_modified else {
                return Err(Skip::Modified);
            };
            if self.modified_after.is_some_and(|a| t < a)
                || self.modified_before.is_some_and(|b| t >= b)
            {
                return Err(Skip::Modified);
            }
        }
        if !self.include_archived && is_archived(obj.storage_class.as_deref()) {
            return Err(Skip::Archived);
        }
        Ok(())
    }

    /// Why this filter is unusable, if it is (an empty range).
    pub fn validate(&self) -> Result<(), String> {
        if let (Some(min), Some(max)) = (self.min_size, self.max_size)
            && min > max
        {
            return Err(format!(
                "--min-size ({min}) is larger than --max-size ({max})"
            ));
        }
        if let (Some(a), Some(b)) = (self.modified_after, self.modified_before)
            && a >= b
        {
            return Err("--modified-after must be earlier than --modified-before".into());
        }
        Ok(())
    }

    /// A canonical one-line description, stored in the checkpoint so that a resume with other
    /// rules is refused (the keys before the checkpoint were judged by these).
    pub fn describe(&self) -> String {
        let time = |t: Option<DateTime<Utc>>| {
            t.map_or("-".to_string(), |t| {
                t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
            })
        };
        let num = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
        let mut suffixes = self.suffixes.clone();
        suffixes.sort();
        suffixes.dedup();
        format!(
            "suffix={} min_size={} max_size={} modified_after={} modified_before={} \
             include_archived={}",
            if suffixes.is_empty() {
                "-".to_string()
            } else {
                suffixes.join(",")
            },
            num(self.min_size),
            num(self.max_size),
            time(self.modified_after),
            time(self.modified_before),
            self.include_archived
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn obj(key: &str, size: u64, modified: &str, class: Option<&str>) -> Listed {
        Listed {
            key: key.into(),
            size,
            last_modified: Some(t(modified)),
            storage_class: class.map(str::to_string),
            etag: None,
        }
    }

    /// One table: (filter, object, verdict).
    #[test]
    fn each_rule_keeps_or_skips_as_documented() {
        let any = Filter::default();
        let images = Filter::default().with_suffixes([".jpg", ".PNG", " ", ""]);
        let sized = Filter {
            min_size: Some(10_000),
            max_size: Some(5 << 20),
            ..Filter::default()
        };
        let dated = Filter {
            modified_after: Some(t("2026-01-01T00:00:00Z")),
            modified_before: Some(t("2026-02-01T00:00:00Z")),
            ..Filter::default()
        };
        let archived_too = Filter {
            include_archived: true,
            ..Filter::default()
        };
        let jan = "2026-01-15T12:00:00Z";
        let cases: Vec<(&Filter, Listed, Result<(), Skip>)> = vec![
            (&any, obj("a.png", 1, jan, None), Ok(())),
            (&any, obj("dir/", 0, jan, None), Err(Skip::Empty)),
            (&any, obj("dir/", 10, jan, None), Err(Skip::Empty)),
            (&any, obj("empty.png", 0, jan, None), Err(Skip::Empty)),
            (&images, obj("a.jpg", 5, jan, None), Ok(())),
            (&images, obj("A.JPG", 5, jan, None), Ok(())),
            (&images, obj("b.Png", 5, jan, None), Ok(())),
            (&images, obj("c.jpeg", 5, jan, None), Err(Skip::Suffix)),
            (&images, obj("jpg", 5, jan, None), Err(Skip::Suffix)),
            (&images, obj("d.pdf", 5, jan, None), Err(Skip::Suffix)),
            (&sized, obj("a", 9_999, jan, None), Err(Skip::Size)),
            (&sized, obj("a", 10_000, jan, None), Ok(())),
            (&sized, obj("a", 5 << 20, jan, None), Ok(())),
            (&sized, obj("a", (5 << 20) + 1, jan, None), Err(Skip::Size)),
            (
                &dated,
                obj("a", 1, "2025-12-31T23:59:59Z", None),
                Err(Skip::Modified),
            ),
            (&dated, obj("a", 1, "2026-01-01T00:00:00Z", None), Ok(())),
            (
                &dated,
                obj("a", 1, "2026-01-31T23:59:59.999Z", None),
                Ok(()),
            ),
            (
                &dated,
                obj("a", 1, "2026-02-01T00:00:00Z", None),
                Err(Skip::Modified),
            ),
            (
                &dated,
                Listed {
                    last_modified: None,
                    ..obj("a", 1, jan, None)
                },
                Err(Skip::Modified),
            ),
            (
                &any,
                Listed {
                    last_modified: None,
                    ..obj("a", 1, jan, None)
                },
                Ok(()),
            ),
            (&any, obj("a", 1, jan, Some("GLACIER")), Err(Skip::Archived)),
            (
                &any,
                obj("a", 1, jan, Some("DEEP_ARCHIVE")),
                Err(Skip::Archived),
            ),
            (&any, obj("a", 1, jan, Some("glacier")), Err(Skip::Archived)),
            (&any, obj("a", 1, jan, Some("GLACIER_IR")), Ok(())),
            (&any, obj("a", 1, jan, Some("STANDARD")), Ok(())),
            (&any, obj("a", 1, jan, Some("STANDARD_IA")), Ok(())),
            (&any, obj("a", 1, jan, Some("INTELLIGENT_TIERING")), Ok(())),
            (&archived_too, obj("a", 1, jan, Some("GLACIER")), Ok(())),
            (
                &archived_too,
                obj("a", 1, jan, Some("DEEP_ARCHIVE")),
                Ok(()),
            ),
            // The first failing rule counts: an archived .pdf is a suffix skip.
            (
                &images,
                obj("a.pdf", 1, jan, Some("GLACIER")),
                Err(Skip::Suffix),
            ),
            (
                &images,
                obj("a.png", 1, jan, Some("GLACIER")),
                Err(Skip::Archived),
            ),
        ];
        for (filter, o, verdict) in cases {
            assert_eq!(filter.check(&o), verdict, "{filter:?} {o:?}");
        }
    }

    #[test]
    fn skips_are_counted_by_reason() {
        let mut c = SkipCounts::default();
        for s in [Skip::Empty, Skip::Archived, Skip::Archived, Skip::Size] {
            c.add(s);
        }
        assert_eq!((c.empty, c.archived, c.size, c.suffix), (1, 2, 1, 0));
        assert_eq!(c.total(), 4);
        assert_eq!(c.plus(&c).total(), 8);
    }

    #[test]
    fn empty_ranges_are_refused_and_the_description_is_canonical() {
        let f = Filter {
            min_size: Some(2),
            max_size: Some(1),
            ..Filter::default()
        };
        assert!(f.validate().unwrap_err().contains("--min-size"));
        let f = Filter {
            modified_after: Some(t("2026-02-01T00:00:00Z")),
            modified_before: Some(t("2026-02-01T00:00:00Z")),
            ..Filter::default()
        };
        assert!(f.validate().is_err());
        assert!(Filter::default().validate().is_ok());
        let a = Filter::default().with_suffixes([".png", ".JPG"]);
        let b = Filter::default().with_suffixes([".jpg", ".png", ".png"]);
        assert_eq!(a.describe(), b.describe());
        assert_eq!(
            a.describe(),
            "suffix=.jpg,.png min_size=- max_size=- modified_after=- modified_before=- \
             include_archived=false"
        );
        let c = Filter {
            min_size: Some(1),
            ..a.clone()
        };
        assert_ne!(a.describe(), c.describe());
    }
}
