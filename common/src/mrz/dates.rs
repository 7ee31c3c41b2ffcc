//! Two-digit years.
//!
//! - **Birth**: the latest century that puts the date on or before `today` (people are born in
//!   the past). `000229` is 2000-02-29; `010229` is rejected (no 29 February in 1901 or 2001).
//! - **Expiry**: of the dates 19YY, 20YY and 21YY that exist, the one nearest the plausible
//!   validity window; ties go to the earlier one. The window is `[issue, issue + 10 years]`
//!   when the issue date is known (from the visual zone), else `[today − 50 years,
//!   today + 10 years]`. An old passport therefore reads as expired instead of being pushed a
//!   century ahead.

use chrono::{Datelike, Months, NaiveDate};

/// What two-digit years are resolved against. `today` is passed in: nothing here reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateContext {
    /// The processing date.
    pub today: NaiveDate,
    /// The issue date read from the visual zone, when known.
    pub issue_date: Option<NaiveDate>,
}

impl DateContext {
    /// A context with no issue date.
    pub fn new(today: NaiveDate) -> Self {
        DateContext {
            today,
            issue_date: None,
        }
    }
}

/// Split `YYMMDD` (exactly six ASCII digits) into numbers.
fn split(yymmdd: &str) -> Option<(i32, u32, u32)> {
    let b = yymmdd.as_bytes();
    if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
    Some((n(0) as i32, n(2), n(4)))
}

/// Birth date from `YYMMDD`: the latest existing date with that `YYMMDD` on or before `today`.
/// `None` if the text is not six digits or no such date exists within 200 years.
pub fn resolve_birth(yymmdd: &str, today: NaiveDate) -> Option<NaiveDate> {
    let (yy, mm, dd) = split(yymmdd)?;
    let base = today.year() - today.year().rem_euclid(100);
    [base, base - 100, base - 200]
        .into_iter()
        .filter_map(|c| NaiveDate::from_ymd_opt(c + yy, mm, dd))
        .find(|d| *d <= today)
}

/// Expiry date from `YYMMDD`, see the module docs. `None` if not six digits or impossible.
pub fn resolve_expiry(yymmdd: &str, ctx: &DateContext) -> Option<NaiveDate> {
    let (yy, mm, dd) = split(yymmdd)?;
    let (lo, hi) = match ctx.issue_date {
        Some(i) => (i, i.checked_add_months(Months::new(120)).unwrap_or(i)),
        None => (
            ctx.today
                .checked_sub_months(Months::new(600))
                .unwrap_or(ctx.today),
            ctx.today
                .checked_add_months(Months::new(120))
                .unwrap_or(ctx.today),
        ),
    };
    let distance = |d: NaiveDate| {
        if d < lo {
            (lo - d).num_days()
        } else if d > hi {
            (d - hi).num_days()
        } else {
            0
        }
    };
    [1900, 2000, 2100]
        .into_iter()
        .filter_map(|c| NaiveDate::from_ymd_opt(c + yy, mm, dd))
        .min_by_key(|d| (distance(*d), *d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn birth_resolves_to_the_past() {
        let today = d(2026, 5, 1);
        for (s, want) in [
            ("740812", Some(d(1974, 8, 12))),
            ("260501", Some(d(2026, 5, 1))),
            ("260502", Some(d(1926, 5, 2))),
            ("000229", Some(d(2000, 2, 29))),
            ("010229", None),
            ("991231", Some(d(1999, 12, 31))),
            ("741312", None),
            ("74O812", None),
            ("7408121", None),
        ] {
            assert_eq!(resolve_birth(s, today), want, "{s}");
        }
    }

    #[test]
    fn expiry_uses_issue_date_then_today() {
        let ctx = DateContext::new(d(2026, 5, 1));
        assert_eq!(resolve_expiry("120415", &ctx), Some(d(2012, 4, 15)));
        assert_eq!(resolve_expiry("300815", &ctx), Some(d(2030, 8, 15)));
        assert_eq!(resolve_expiry("990101", &ctx), Some(d(1999, 1, 1)));
        let issued_1995 = DateContext {
            issue_date: Some(d(1995, 3, 1)),
            ..ctx
        };
        assert_eq!(resolve_expiry("050301", &issued_1995), Some(d(2005, 3, 1)));
        let issued_2094 = DateContext {
            issue_date: Some(d(2094, 3, 1)),
            ..ctx
        };
        assert_eq!(resolve_expiry("040301", &issued_2094), Some(d(2104, 3, 1)));
        assert_eq!(resolve_expiry("000230", &ctx), None);
    }
}
