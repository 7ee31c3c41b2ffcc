//! Cross-check of the MRZ against the visual zone, and the grading of MRZ repair suggestions by
//! it ([`grade`]).
//!
//! Compared: number, birth date, expiry date, sex, surname, given names, nationality, issuing
//! country. A field is compared only when the visual value read cleanly (not masked, not
//! unknown) and the MRZ field was read from a 44-character line without a defect of its own.
//! Names are compared on their letters `A-Z` only (spaces, `-`, `'` and `<` ignored); a visual
//! name with other letters (accents, other scripts) is not compared, since MRZ transliteration
//! varies; a name that fills the MRZ name area to the end may be truncated there and is
//! compared as a prefix.

use chrono::NaiveDate;

use super::sex::Sex;
use crate::mrz::{MrzField, MrzRepair, MrzSuggestion, RepairReason, Td3Record};

/// The visual values taking part in the cross-check (`None` = not comparable).
#[derive(Debug, Default)]
pub(super) struct Visual {
    pub number: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub expiry_date: Option<NaiveDate>,
    pub sex: Option<Sex>,
    pub surname: Option<String>,
    pub given_names: Option<String>,
    pub nationality: Option<String>,
    pub issuing_country: Option<String>,
}

fn yymmdd(d: NaiveDate) -> String {
    d.format("%y%m%d").to_string()
}

/// Letters `A-Z` of a name, or `None` when it holds letters the MRZ cannot.
fn name_key(s: &str) -> Option<String> {
    if s.chars()
        .any(|c| c.is_alphabetic() && !c.is_ascii_alphabetic())
    {
        return None;
    }
    Some(s.chars().filter(char::is_ascii_uppercase).collect())
}

fn names_match(visual: &str, mrz: &str, may_be_truncated: bool) -> Option<bool> {
    let v = name_key(visual)?;
    let m = name_key(mrz)?;
    Some(if may_be_truncated {
        v.starts_with(&m)
    } else {
        v == m
    })
}

/// Compared fields, each with whether it matched, in a fixed order.
pub(super) fn compare(v: &Visual, r: &Td3Record) -> Vec<(&'static str, bool)> {
    let mut out = Vec::new();
    let f = &r.fields;
    // The name area ends in a letter: the last name part may have been cut.
    let truncated = r.line1.chars().nth(43).is_some_and(|c| c != '<');
    let given_present = !f.given_names.is_empty();
    let mut cmp = |field: MrzField, result: Option<bool>| {
        if let Some(m) = result
            && r.field_ok(field)
        {
            out.push((field.name(), m));
        }
    };
    cmp(MrzField::Number, v.number.as_ref().map(|n| *n == f.number));
    cmp(
        MrzField::BirthDate,
        v.birth_date.map(|d| yymmdd(d) == f.birth_yymmdd),
    );
    cmp(
        MrzField::ExpiryDate,
        v.expiry_date.map(|d| yymmdd(d) == f.expiry_yymmdd),
    );
    cmp(
        MrzField::Sex,
        v.sex.map(|s| Sex::from_mrz(f.sex) == Some(s)),
    );
    cmp(
        MrzField::Surname,
        v.surname
            .as_ref()
            .and_then(|s| names_match(s, &f.surname, truncated && !given_present)),
    );
    cmp(
        MrzField::GivenNames,
        v.given_names
            .as_ref()
            .and_then(|s| names_match(s, &f.given_names, truncated)),
    );
    cmp(
        MrzField::Nationality,
        v.nationality.as_ref().map(|c| *c == f.nationality),
    );
    cmp(
        MrzField::IssuingState,
        v.issuing_country.as_ref().map(|c| *c == f.issuing_state),
    );
    out
}

/// The MRZ's repairs and suggestions graded against the visual zone.
#[derive(Debug)]
pub(super) struct Graded {
    /// Forced repairs, then the graded suggestions (confirmed, offered or rejected).
    pub repairs: Vec<MrzRepair>,
    /// Line 2 as used: the record's line with the confirmed suggestions applied.
    pub line2: String,
    /// The MRZ is valid, or would be with the suggestions offered or confirmed here.
    pub valid_after_suggested_repair: bool,
}

/// Grade the record's check-digit suggestions ([`Td3Record::suggestions`]) with the visual
/// number, the one field a suggestion can touch that the visual zone reads again:
///
/// - no comparable visual number (absent, masked, unreadable): the only alternative, if there
///   is exactly one, is offered as [`RepairReason::CheckDigitSuggestion`], not applied;
/// - exactly one alternative makes the MRZ number equal to the visual number: its number swaps
///   are [`RepairReason::ConfirmedByVisualZone`] and applied to line 2 (swaps in the personal
///   number, which the visual zone does not show, stay suggestions);
/// - none does: the only alternative, if there is exactly one, is listed as
///   [`RepairReason::RejectedByVisualZone`]; several agreeing alternatives: nothing offered.
pub(super) fn grade(v: &Visual, r: &Td3Record) -> Graded {
    let mut repairs = r.repairs.clone();
    let mut line2 = r.line2.clone();
    if r.is_valid() {
        return Graded {
            repairs,
            line2,
            valid_after_suggested_repair: true,
        };
    }
    let regrade = |s: &MrzSuggestion, f: &dyn Fn(&MrzRepair) -> RepairReason| {
        s.swaps
            .iter()
            .map(|x| MrzRepair { reason: f(x), ..*x })
            .collect::<Vec<_>>()
    };
    let mut valid_after = false;
    match &v.number {
        None => {
            if let Some(s) = r.suggestion() {
                repairs.extend(s.swaps.iter().copied());
                valid_after = true;
            }
        }
        Some(number) => {
            let agreeing: Vec<&MrzSuggestion> = r
                .suggestions
                .iter()
                .filter(|s| s.number(&r.line2) == *number)
                .collect();
            match agreeing[..] {
                [one] => {
                    let graded = regrade(one, &|x| {
                        if x.field == MrzField::Number {
                            RepairReason::ConfirmedByVisualZone
                        } else {
                            RepairReason::CheckDigitSuggestion
                        }
                    });
                    let confirmed = MrzSuggestion {
                        swaps: graded
                            .iter()
                            .filter(|x| x.reason.is_applied())
                            .copied()
                            .collect(),
                    };
                    line2 = confirmed.apply(&line2);
                    repairs.extend(graded);
                    valid_after = true;
                }
                [] => {
                    if let Some(s) = r.suggestion() {
                        repairs.extend(regrade(s, &|_| RepairReason::RejectedByVisualZone));
                    }
                }
                _ => {}
            }
        }
    }
    Graded {
        repairs,
        line2,
        valid_after_suggested_repair: valid_after,
    }
}
