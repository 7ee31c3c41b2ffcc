//! Choosing the MRZ lines among the candidates and parsing them.
//!
//! Each line is read from `formatted.value`, falling back to `text` (both are tried). Every
//! pair of line-1 and line-2 readings is parsed, and the best pair wins: a valid MRZ first,
//! then one with a single check-digit suggestion, then fewer defects, then fewer repairs, then
//! higher summed confidence, then candidate order.

use std::cmp::Ordering;

use crate::clova::Candidate;
use crate::mrz::{DateContext, Td3Record, parse_td3};

use super::pick::{bounding_box, raw_text, sources};
use super::{FieldEvidence, ValueSource};

/// The chosen MRZ.
#[derive(Debug)]
pub(super) struct Zone {
    /// Parsed record (lines cleaned and repaired).
    pub record: Td3Record,
    /// Evidence for `mrz.line1`.
    pub line1: FieldEvidence,
    /// Evidence for `mrz.line2`.
    pub line2: FieldEvidence,
}

/// A line reading: the candidate it came from and the text.
type Reading<'a> = (Option<&'a Candidate>, &'a str);
/// Ranking of a parsed pair (see the module docs).
type Score = (bool, bool, isize, isize, f64);
/// The best pair so far.
type Best<'a> = (Td3Record, Reading<'a>, Reading<'a>, Score);

fn options(cands: &[Candidate]) -> Vec<Reading<'_>> {
    let mut out: Vec<Reading<'_>> = cands
        .iter()
        .flat_map(|c| sources(c).into_iter().map(move |s| (Some(c), s)))
        .collect();
    if out.is_empty() {
        out.push((None, ""));
    }
    out
}

fn score(r: &Td3Record, a: Option<&Candidate>, b: Option<&Candidate>) -> Score {
    let conf = |c: Option<&Candidate>| c.and_then(|c| c.confidence_score).unwrap_or(0.0);
    (
        r.is_valid(),
        r.suggestion().is_some(),
        -(r.defects.len() as isize),
        -(r.repairs.len() as isize),
        conf(a) + conf(b),
    )
}

fn better(a: &Score, b: &Score) -> bool {
    (a.0, a.1, a.2, a.3)
        .cmp(&(b.0, b.1, b.2, b.3))
        .then(a.4.total_cmp(&b.4))
        == Ordering::Greater
}

fn evidence(c: Option<&Candidate>, count: usize, line: &str) -> FieldEvidence {
    FieldEvidence {
        raw: c.and_then(raw_text),
        value: (!line.is_empty()).then(|| line.to_owned()),
        confidence: c.and_then(|c| c.confidence_score),
        bounding_box: c.and_then(|c| bounding_box(&c.bounding_polys)),
        candidates: count,
        masked: line.contains('*'),
        source: if line.is_empty() {
            ValueSource::Absent
        } else {
            ValueSource::Mrz
        },
    }
}

/// Parse the best pair; `None` when neither line has any text.
pub(super) fn read(mrz1: &[Candidate], mrz2: &[Candidate], ctx: &DateContext) -> Option<Zone> {
    let o1 = options(mrz1);
    let o2 = options(mrz2);
    if o1[0].0.is_none() && o2[0].0.is_none() {
        return None;
    }
    let mut best: Option<Best<'_>> = None;
    for a in &o1 {
        for b in &o2 {
            let r = parse_td3(a.1, b.1, ctx);
            let s = score(&r, a.0, b.0);
            if best.as_ref().is_none_or(|(_, _, _, bs)| better(&s, bs)) {
                best = Some((r, *a, *b, s));
            }
        }
    }
    let (record, a, b, _) = best?;
    Some(Zone {
        line1: evidence(a.0, mrz1.len(), &record.line1),
        line2: evidence(b.0, mrz2.len(), &record.line2),
        record,
    })
}
