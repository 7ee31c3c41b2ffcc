//! Choosing the best candidate of a field.
//!
//! Every candidate is read from its `formatted.value` and from its `text` (whichever reads
//! better counts). Candidates are ranked by how well they read (a clean reading, then a masked
//! one, then one that does not parse for the field's type, then an empty one), then by
//! `confidenceScore` (missing counts as lowest), then by order: the first wins ties.

use std::cmp::Ordering;

use crate::clova::{Candidate, Poly};

use super::{BoundingBox, FieldEvidence, ValueSource};

/// How a text reads for a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    /// Reads as a value of the field's type.
    Ok,
    /// Holds the mask character `*`: passed through as is.
    Masked,
    /// Does not read; the warning code says why.
    Bad(&'static str),
    /// Nothing there.
    Empty,
}

impl Status {
    fn rank(self) -> u8 {
        match self {
            Status::Ok => 3,
            Status::Masked => 2,
            Status::Bad(_) => 1,
            Status::Empty => 0,
        }
    }
}

/// One candidate's reading for a field.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Reading<T> {
    /// Typed value, when the text reads.
    pub value: Option<T>,
    /// The value as it goes into `fields[..].value` (masked text passes through here).
    pub display: Option<String>,
    /// How it read.
    pub status: Status,
    /// Characters other than whitespace and punctuation were dropped.
    pub cleaned: bool,
    /// Two sources of the same candidate (e.g. `formatted` and `text` dates) disagree.
    pub disagree: bool,
}

impl<T> Reading<T> {
    /// Nothing to read.
    pub fn empty() -> Self {
        Reading {
            value: None,
            display: None,
            status: Status::Empty,
            cleaned: false,
            disagree: false,
        }
    }
}

/// The texts a candidate offers: `formatted.value`, then `text` when different. Blank ones are
/// skipped.
pub(super) fn sources(c: &Candidate) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::with_capacity(2);
    for s in [
        c.formatted.as_ref().and_then(|f| f.value.as_deref()),
        c.text.as_deref(),
    ]
    .into_iter()
    .flatten()
    {
        if !s.trim().is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Read every source of a candidate with `read` and keep the best (first on ties).
pub(super) fn read_sources<T>(c: &Candidate, read: impl Fn(&str) -> Reading<T>) -> Reading<T> {
    let mut best = Reading::empty();
    for s in sources(c) {
        let r = read(s);
        if r.status.rank() > best.status.rank() {
            best = r;
        }
    }
    best
}

/// The chosen candidate of a field.
#[derive(Debug)]
pub(super) struct Picked<'a, T> {
    /// Its reading.
    pub reading: Reading<T>,
    /// The candidate, if there was any.
    pub cand: Option<&'a Candidate>,
    /// How many candidates there were.
    pub count: usize,
}

fn confidence_cmp(a: Option<f64>, b: Option<f64>) -> Ordering {
    a.unwrap_or(-1.0).total_cmp(&b.unwrap_or(-1.0))
}

/// Pick the best candidate (see the module docs).
pub(super) fn pick<'a, T>(
    cands: &'a [Candidate],
    read: impl Fn(&Candidate) -> Reading<T>,
) -> Picked<'a, T> {
    let mut best: Option<(Reading<T>, &Candidate)> = None;
    for c in cands {
        let r = read(c);
        let better = match &best {
            None => true,
            Some((br, bc)) => match r.status.rank().cmp(&br.status.rank()) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal => {
                    confidence_cmp(c.confidence_score, bc.confidence_score) == Ordering::Greater
                }
            },
        };
        if better {
            best = Some((r, c));
        }
    }
    match best {
        Some((reading, cand)) => Picked {
            reading,
            cand: Some(cand),
            count: cands.len(),
        },
        None => Picked {
            reading: Reading::empty(),
            cand: None,
            count: 0,
        },
    }
}

/// Raw text of a candidate: `text`, else `formatted.value`.
pub(super) fn raw_text(c: &Candidate) -> Option<String> {
    c.text
        .clone()
        .or_else(|| c.formatted.as_ref().and_then(|f| f.value.clone()))
}

/// Axis-aligned box around every vertex of `polys`.
pub(super) fn bounding_box(polys: &[Poly]) -> Option<BoundingBox> {
    let mut it = polys.iter().flat_map(|p| p.vertices.iter());
    let first = it.next()?;
    let mut b = BoundingBox {
        x_min: first.x,
        y_min: first.y,
        x_max: first.x,
        y_max: first.y,
    };
    for v in it {
        b.x_min = b.x_min.min(v.x);
        b.y_min = b.y_min.min(v.y);
        b.x_max = b.x_max.max(v.x);
        b.y_max = b.y_max.max(v.y);
    }
    Some(b)
}

impl<T> Picked<'_, T> {
    /// Evidence for `fields`, with the value from the visual zone.
    pub fn evidence(&self) -> FieldEvidence {
        FieldEvidence {
            raw: self.cand.and_then(raw_text),
            value: self.reading.display.clone(),
            confidence: self.cand.and_then(|c| c.confidence_score),
            bounding_box: self.cand.and_then(|c| bounding_box(&c.bounding_polys)),
            candidates: self.count,
            masked: self.reading.status == Status::Masked,
            source: if self.reading.display.is_some() {
                ValueSource::Visual
            } else {
                ValueSource::Absent
            },
        }
    }
}
