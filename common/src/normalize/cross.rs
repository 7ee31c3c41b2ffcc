//! Cross-check of the MRZ against the visual zone.
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
use crate::mrz::{MrzField, Td3Record};

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
