//! ICAO Doc 9303 TD3 (passport) machine readable zone: check digits, composing, parsing,
//! validation, forced OCR-confusion repair and graded repair suggestions.
//!
//! # Layout
//! - this file: the check digit, [`Td3Fields`] and [`compose_td3`].
//! - [`parse`]: [`parse_td3`] → [`Td3Record`] (fields, check digits, defects, repairs).
//! - [`repair`]: the repair rules (field type and issuer format, applied; check-digit
//!   suggestions, never applied).
//! - [`dates`]: two-digit year resolution for birth and expiry dates.

mod dates;
mod parse;
mod repair;

pub use dates::{DateContext, resolve_birth, resolve_expiry};
pub use parse::{
    CheckDigits, DefectKind, MrzDefect, MrzField, MrzRepair, RepairReason, TD3_LINE_LEN, Td3Record,
    clean_line, parse_td3,
};
pub use repair::{MrzSuggestion, confusable};

/// Value of one MRZ character for check digit purposes: `0-9` as is, `A-Z` as 10-35, `<` as 0.
/// Returns `None` for any other character.
pub fn char_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        'A'..='Z' => Some(c as u32 - 'A' as u32 + 10),
        '<' => Some(0),
        _ => None,
    }
}

/// ICAO 9303 check digit over `s` (weights 7, 3, 1 repeating, sum mod 10).
/// Returns `None` if `s` holds a character outside `A-Z0-9<`.
pub fn check_digit(s: &str) -> Option<u8> {
    const WEIGHTS: [u32; 3] = [7, 3, 1];
    let mut sum = 0u32;
    for (i, c) in s.chars().enumerate() {
        sum += char_value(c)? * WEIGHTS[i % 3];
    }
    Some((sum % 10) as u8)
}

/// The data a TD3 MRZ encodes, as plain MRZ-alphabet strings (already upper-case, no fillers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Td3Fields {
    /// Document code, e.g. `PM` (1 or 2 characters).
    pub document_code: String,
    /// Issuing state, 3 letters.
    pub issuing_state: String,
    /// Primary identifier (surname); spaces become `<`.
    pub surname: String,
    /// Secondary identifier (given names); spaces become `<`.
    pub given_names: String,
    /// Document number, up to 9 characters.
    pub number: String,
    /// Nationality, 3 letters.
    pub nationality: String,
    /// Birth date as `YYMMDD`.
    pub birth_yymmdd: String,
    /// `M`, `F` or `<`.
    pub sex: char,
    /// Expiry date as `YYMMDD`.
    pub expiry_yymmdd: String,
    /// Optional personal number, up to 14 characters (empty: all fillers).
    pub personal_number: String,
}

fn pad(s: &str, len: usize) -> String {
    let mut out: String = s.chars().take(len).collect();
    while out.chars().count() < len {
        out.push('<');
    }
    out
}

fn mrz_text(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join("<")
        .replace(['-', '\''], "<")
        .to_ascii_uppercase()
}

/// Compose the two 44-character TD3 lines, with every check digit computed.
/// Characters outside the MRZ alphabet are replaced by `<`.
pub fn compose_td3(f: &Td3Fields) -> (String, String) {
    let clean = |s: String| -> String {
        s.chars()
            .map(|c| if char_value(c).is_some() { c } else { '<' })
            .collect()
    };
    let name = format!("{}<<{}", mrz_text(&f.surname), mrz_text(&f.given_names));
    let line1 = clean(format!(
        "{}{}{}",
        pad(&f.document_code, 2),
        pad(&f.issuing_state, 3),
        pad(&name, 39)
    ));
    let digit = |s: &str| check_digit(s).map_or('<', |d| char::from(b'0' + d));
    let number = clean(pad(&f.number, 9));
    let birth = clean(pad(&f.birth_yymmdd, 6));
    let expiry = clean(pad(&f.expiry_yymmdd, 6));
    let personal = clean(pad(&f.personal_number, 14));
    let personal_cd = if personal.chars().all(|c| c == '<') {
        '<'
    } else {
        digit(&personal)
    };
    let composite_src = format!(
        "{number}{}{birth}{}{expiry}{}{personal}{personal_cd}",
        digit(&number),
        digit(&birth),
        digit(&expiry)
    );
    let line2 = format!(
        "{number}{}{}{birth}{}{}{expiry}{}{personal}{personal_cd}{}",
        digit(&number),
        clean(pad(&f.nationality, 3)),
        digit(&birth),
        f.sex,
        digit(&expiry),
        digit(&composite_src)
    );
    (line1, line2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icao_specimen_composes_exactly() {
        let f = Td3Fields {
            document_code: "P".into(),
            issuing_state: "UTO".into(),
            surname: "ERIKSSON".into(),
            given_names: "ANNA MARIA".into(),
            number: "L898902C3".into(),
            nationality: "UTO".into(),
            birth_yymmdd: "740812".into(),
            sex: 'F',
            expiry_yymmdd: "120415".into(),
            personal_number: "ZE184226B".into(),
        };
        let (l1, l2) = compose_td3(&f);
        assert_eq!(l1, "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<");
        assert_eq!(l2, "L898902C36UTO7408122F1204159ZE184226B<<<<<10");
    }
}
