//! Per-type readers: one candidate → [`Reading`].

use chrono::NaiveDate;

use super::codes;
use super::date::{self, DateRead};
use super::pick::{Reading, Status, read_sources, sources};
use super::sex::{Sex, parse_sex};
use super::text::{clean_code, clean_name, clean_number, collapse_ws, is_masked};
use crate::clova::Candidate;
use crate::country;

fn masked(display: String) -> Reading<String> {
    Reading {
        value: Some(display.clone()),
        display: Some(display),
        status: Status::Masked,
        cleaned: false,
        disagree: false,
    }
}

fn ok_or_bad(value: String, cleaned: bool, bad: Option<&'static str>) -> Reading<String> {
    if value.is_empty() {
        return Reading {
            cleaned,
            ..Reading::empty()
        };
    }
    Reading {
        value: Some(value.clone()),
        display: Some(value),
        status: bad.map_or(Status::Ok, Status::Bad),
        cleaned,
        disagree: false,
    }
}

/// Document code: 1-2 letters starting with `P`.
pub(super) fn code(c: &Candidate) -> Reading<String> {
    read_sources(c, |s| {
        let (v, cleaned) = clean_code(s);
        if is_masked(&v) {
            return masked(v);
        }
        let ok = (1..=2).contains(&v.len()) && v.starts_with('P');
        ok_or_bad(v, cleaned, (!ok).then_some(codes::DOCUMENT_CODE_UNUSUAL))
    })
}

/// Country: ICAO code when the table knows the code or name, else the cleaned text.
pub(super) fn country(c: &Candidate) -> Reading<String> {
    read_sources(c, |s| {
        if is_masked(s) {
            return masked(collapse_ws(s));
        }
        match country::lookup(s) {
            Some(code) => ok_or_bad(code.to_owned(), false, None),
            None => {
                let (v, cleaned) = clean_name(s);
                ok_or_bad(v, cleaned, Some(codes::COUNTRY_UNKNOWN))
            }
        }
    })
}

/// Passport number: `A-Z0-9`, spaces and punctuation removed.
pub(super) fn number(c: &Candidate) -> Reading<String> {
    read_sources(c, |s| {
        let (v, cleaned) = clean_number(s);
        if is_masked(&v) {
            return masked(v);
        }
        ok_or_bad(v, cleaned, None)
    })
}

/// Surname or given names: upper-case Latin, single spaces.
pub(super) fn name(c: &Candidate) -> Reading<String> {
    read_sources(c, |s| {
        let (v, cleaned) = clean_name(s);
        if is_masked(&v) {
            return masked(v);
        }
        ok_or_bad(v, cleaned, None)
    })
}

/// Free text (authority): whitespace collapsed, otherwise as given.
pub(super) fn free_text(c: &Candidate) -> Reading<String> {
    read_sources(c, |s| {
        let v = collapse_ws(s);
        if is_masked(&v) {
            return masked(v);
        }
        ok_or_bad(v, false, None)
    })
}

/// Korean full name: kept in Hangul as given, whitespace collapsed.
pub(super) fn korean(c: &Candidate) -> Reading<String> {
    free_text(c)
}

/// Sex: `M`, `F` or `X` from noisy text.
pub(super) fn sex(c: &Candidate) -> Reading<Sex> {
    read_sources(c, |s| match parse_sex(s) {
        Some(x) => Reading {
            value: Some(x),
            display: Some(x.as_str().to_owned()),
            status: Status::Ok,
            cleaned: false,
            disagree: false,
        },
        None if is_masked(s) => Reading {
            display: Some(collapse_ws(s)),
            status: Status::Masked,
            ..Reading::empty()
        },
        None => Reading {
            status: Status::Bad(codes::SEX_UNPARSED),
            ..Reading::empty()
        },
    })
}

fn rank(d: DateRead) -> u8 {
    match d {
        DateRead::Date(_) => 2,
        DateRead::Impossible => 1,
        DateRead::Unparsed => 0,
    }
}

/// A date: `formatted` year/month/day first, then the text. An impossible date is never
/// replaced by an invented one; the text's reading is used only if it is itself a real date
/// (flagged as a disagreement).
pub(super) fn date(c: &Candidate) -> Reading<NaiveDate> {
    let srcs = sources(c);
    let f = c.formatted.as_ref();
    let formatted_parts = f
        .map(|f| {
            [&f.year, &f.month, &f.day]
                .into_iter()
                .flatten()
                .any(|s| is_masked(s))
        })
        .unwrap_or(false);
    if let Some(m) = srcs.iter().find(|s| is_masked(s)) {
        return Reading {
            display: Some(collapse_ws(m)),
            status: Status::Masked,
            ..Reading::empty()
        };
    }
    if formatted_parts {
        return Reading {
            display: Some("****".into()),
            status: Status::Masked,
            ..Reading::empty()
        };
    }
    let from_formatted = f.and_then(date::from_formatted);
    let from_text = srcs
        .iter()
        .map(|s| date::from_text(s))
        .fold(
            DateRead::Unparsed,
            |a, b| if rank(b) > rank(a) { b } else { a },
        );
    let ok = |d: NaiveDate, disagree: bool| Reading {
        value: Some(d),
        display: Some(d.format("%Y-%m-%d").to_string()),
        status: Status::Ok,
        cleaned: false,
        disagree,
    };
    let bad = |code| Reading {
        status: Status::Bad(code),
        ..Reading::empty()
    };
    match (from_formatted, from_text) {
        (Some(DateRead::Date(a)), DateRead::Date(b)) => ok(a, a != b),
        (Some(DateRead::Date(a)), _) => ok(a, false),
        (Some(DateRead::Impossible), DateRead::Date(b)) => ok(b, true),
        (Some(DateRead::Impossible), _) => bad(codes::DATE_INVALID),
        (_, DateRead::Date(b)) => ok(b, false),
        (_, DateRead::Impossible) => bad(codes::DATE_INVALID),
        (None, DateRead::Unparsed) if srcs.is_empty() => Reading::empty(),
        (_, DateRead::Unparsed) => bad(codes::DATE_UNPARSED),
    }
}
