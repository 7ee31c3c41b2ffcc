//! CLOVA `pp` result → normalized passport record with per-field evidence, checks and warnings.
//!
//! Pure: `today` is passed in. The rules are documented in `docs/normalization.md`; in short:
//!
//! - per field, the best candidate is chosen ([`pick`](self) rules: reads cleanly > masked >
//!   does not parse > empty, then confidence, then order);
//! - values are cleaned per type (names, numbers, codes, dates, sex); masked values (`*`) pass
//!   through flagged, never repaired, never compared;
//! - the MRZ is parsed, validated and repaired where the field type or the issuer's format
//!   forces it ([`crate::mrz`]), and cross-checked against the visual zone; a repair chosen only
//!   by a check digit is a suggestion, applied only when the visual zone confirms it;
//! - when the MRZ is valid as read (forced repairs only), the check-digit-protected fields (number, birth date, expiry date)
//!   take the MRZ value; other fields take the visual value and fall back to the valid MRZ.
//!
//! Warnings carry a stable code and a field name only, never personal data.

mod cross;
mod date;
mod field;
mod pick;
mod readers;
mod sex;
mod text;
mod zone;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::clova::PassportFields;
use crate::country;
use crate::mrz::{CheckDigits, DateContext, DefectKind, MrzRepair, RepairReason, Td3Record};

pub use date::DateRead;
pub use date::from_text as parse_date_text;
pub use field::Field;
pub use sex::{Sex, parse_sex};

use pick::{Picked, Status, pick};

/// Stable warning codes (documented in `docs/normalization.md`).
pub mod codes {
    /// The field has no candidate or only blank text.
    pub const FIELD_MISSING: &str = "field_missing";
    /// The value holds the vendor's mask `*`: passed through, not checked.
    pub const FIELD_MASKED: &str = "field_masked";
    /// Characters other than whitespace and punctuation were dropped while cleaning.
    pub const TEXT_CLEANED: &str = "text_cleaned";
    /// The response had more candidates than kept for this field.
    pub const CANDIDATES_TRUNCATED: &str = "candidates_truncated";
    /// A date whose shape is clear but which does not exist (e.g. 30 February).
    pub const DATE_INVALID: &str = "date_invalid";
    /// A date that could not be read.
    pub const DATE_UNPARSED: &str = "date_unparsed";
    /// `formatted` year/month/day and the text of the same candidate give different dates.
    pub const DATE_SOURCES_DISAGREE: &str = "date_sources_disagree";
    /// A real date that cannot be right (birth or issue after today, expiry before issue,
    /// birth after issue).
    pub const DATE_IMPLAUSIBLE: &str = "date_implausible";
    /// No `M`/`F`/`X` could be read from the sex field.
    pub const SEX_UNPARSED: &str = "sex_unparsed";
    /// The country text is neither a known ICAO code nor a known name.
    pub const COUNTRY_UNKNOWN: &str = "country_unknown";
    /// The document code is not 1-2 letters starting with `P`.
    pub const DOCUMENT_CODE_UNUSUAL: &str = "document_code_unusual";
    /// The value was taken from the valid MRZ because the visual zone had none.
    pub const VALUE_FROM_MRZ: &str = "value_from_mrz";
    /// One or both MRZ lines are absent (field names the line, or none when both are).
    pub const MRZ_MISSING: &str = "mrz_missing";
    /// The MRZ is present but not valid.
    pub const MRZ_INVALID: &str = "mrz_invalid";
    /// An MRZ line is not 44 characters long.
    pub const MRZ_WRONG_LENGTH: &str = "mrz_wrong_length";
    /// An MRZ line holds characters outside `A-Z0-9<`.
    pub const MRZ_INVALID_CHARACTER: &str = "mrz_invalid_character";
    /// An MRZ field does not have its required shape.
    pub const MRZ_MALFORMED: &str = "mrz_malformed";
    /// An MRZ date field is six digits that make no date.
    pub const MRZ_DATE_INVALID: &str = "mrz_date_invalid";
    /// A check digit fails.
    pub const MRZ_CHECK_DIGIT_FAILED: &str = "mrz_check_digit_failed";
    /// An MRZ character was repaired: forced by the field type or the issuer format, or a
    /// suggestion confirmed by the visual zone (see `crate::mrz::repair`).
    pub const MRZ_REPAIRED: &str = "mrz_repaired";
    /// A check digit suggests a repair that nothing confirms; it is not applied.
    pub const MRZ_REPAIR_SUGGESTED: &str = "mrz_repair_suggested";
    /// A suggested repair disagrees with the visual zone; it is not applied.
    pub const MRZ_REPAIR_REJECTED: &str = "mrz_repair_rejected";
    /// The MRZ and the visual zone disagree on the field.
    pub const MRZ_MISMATCH: &str = "mrz_mismatch";
    /// The passport's expiry date is before today.
    pub const EXPIRED: &str = "expired";
    /// The service reported `isConfident: false`.
    pub const NOT_CONFIDENT: &str = "not_confident";
}

/// Field names of the record, in order: the keys of [`Normalized::fields`] (from [`Field`]).
pub const FIELD_NAMES: [&str; 14] = {
    let mut names = [""; 14];
    let mut i = 0;
    while i < names.len() {
        names[i] = Field::ALL[i].name();
        i += 1;
    }
    names
};

/// The normalized result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalized {
    /// The passport data.
    pub passport: Passport,
    /// Evidence per field, keyed by [`FIELD_NAMES`] (always all of them).
    pub fields: BTreeMap<String, FieldEvidence>,
    /// Validation results.
    pub checks: Checks,
    /// MRZ characters repaired or suggested, each with its grade.
    pub repairs: Vec<Repair>,
    /// What went wrong or needs attention; codes in [`codes`].
    pub warnings: Vec<Warning>,
}

/// Passport data. Every key is always serialized (`null` when absent).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Passport {
    /// Document code, e.g. `PM`.
    pub document_code: Option<String>,
    /// Issuing country as an ICAO code when known, else the cleaned text.
    pub issuing_country: Option<String>,
    /// Passport number.
    pub number: Option<String>,
    /// Surname, upper-case Latin.
    pub surname: Option<String>,
    /// Given names, upper-case Latin, single spaces.
    pub given_names: Option<String>,
    /// Nationality as an ICAO code when known, else the cleaned text.
    pub nationality: Option<String>,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// `M`, `F` or `X`.
    pub sex: Option<Sex>,
    /// Issue date.
    pub issue_date: Option<NaiveDate>,
    /// Expiry date.
    pub expiry_date: Option<NaiveDate>,
    /// Issuing authority, whitespace collapsed.
    pub authority: Option<String>,
    /// Full name in Hangul, as given.
    pub full_name_korean: Option<String>,
    /// The MRZ lines as used (cleaned; forced and visually confirmed repairs applied, never an
    /// unconfirmed suggestion); `null` unless both lines were read.
    pub mrz: Option<MrzLines>,
}

/// The two MRZ lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MrzLines {
    /// Line 1.
    pub line1: String,
    /// Line 2.
    pub line2: String,
}

/// Where a field's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueSource {
    /// The visual zone (the `pp` field's own candidates).
    Visual,
    /// The valid MRZ.
    Mrz,
    /// No value.
    Absent,
}

/// Evidence behind one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldEvidence {
    /// The chosen candidate's text as read (its `text`, else `formatted.value`).
    pub raw: Option<String>,
    /// The normalized value as a string (dates ISO); masked values as masked text.
    pub value: Option<String>,
    /// The chosen candidate's confidence.
    pub confidence: Option<f64>,
    /// Box around the chosen candidate's bounding polygons.
    pub bounding_box: Option<BoundingBox>,
    /// How many candidates the response had for the field (after the cap).
    pub candidates: usize,
    /// The value holds the vendor's mask `*`.
    pub masked: bool,
    /// Where `value` came from.
    pub source: ValueSource,
}

/// Axis-aligned box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// Left.
    pub x_min: f64,
    /// Top.
    pub y_min: f64,
    /// Right.
    pub x_max: f64,
    /// Bottom.
    pub y_max: f64,
}

/// Validation results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checks {
    /// At least one MRZ line was read.
    pub mrz_present: bool,
    /// Both lines well-formed field by field and all five check digits pass, as read with only
    /// the forced repairs (field type, issuer format). Nothing else makes it true.
    pub mrz_valid: bool,
    /// `mrz_valid`, or the MRZ would be valid with the suggested or visually confirmed repairs
    /// in `repairs`. Not proof: see `repairs[].reason`.
    pub mrz_valid_after_suggested_repair: bool,
    /// The five check digits (`null` when not evaluable).
    pub check_digits: CheckDigits,
    /// `true` when every compared field matches, `false` when one does not, `null` when
    /// nothing could be compared.
    pub mrz_matches_visual: Option<bool>,
    /// Names of the fields where the MRZ and the visual zone disagree.
    pub mismatches: Vec<String>,
    /// Expiry date before today (`null` without an expiry date).
    pub expired: Option<bool>,
    /// The service's `isConfident`, as passed in.
    pub is_confident: Option<bool>,
    /// Lowest confidence among the chosen candidates.
    pub min_field_confidence: Option<f64>,
}

/// One MRZ character repaired or suggested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repair {
    /// The MRZ part (`number`, `birth_date`, `personal_number`, `composite`, …).
    pub field: String,
    /// Line, 1 or 2.
    pub line: u8,
    /// 0-based index of the character in the line.
    pub index: usize,
    /// The character read.
    pub from: char,
    /// The character written (or suggested).
    pub to: char,
    /// The grade: applied (`field_type`, `issuer_format`, `confirmed_by_visual_zone`) or not
    /// (`check_digit_suggestion`, `rejected_by_visual_zone`).
    pub reason: RepairReason,
}

impl From<&MrzRepair> for Repair {
    fn from(r: &MrzRepair) -> Self {
        Repair {
            field: r.field.name().to_owned(),
            line: r.line,
            index: r.position,
            from: r.from,
            to: r.to,
            reason: r.reason,
        }
    }
}

/// One warning: a stable snake_case code and the field it concerns. No personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Code from [`codes`].
    pub code: String,
    /// Field name from [`FIELD_NAMES`] (or an MRZ part such as `personal_number`, `composite`).
    pub field: Option<String>,
}

#[derive(Default)]
struct Out {
    fields: BTreeMap<String, FieldEvidence>,
    warnings: Vec<Warning>,
}

impl Out {
    fn warn(&mut self, code: &str, field: Option<&str>) {
        let w = Warning {
            code: code.to_owned(),
            field: field.map(str::to_owned),
        };
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// Record a visual field: evidence plus its reading's warnings.
    fn visual<T>(&mut self, field: Field, p: &Picked<'_, T>) {
        let name = field.name();
        self.fields.insert(name.to_owned(), p.evidence());
        let r = &p.reading;
        match r.status {
            Status::Empty => self.warn(codes::FIELD_MISSING, Some(name)),
            Status::Masked => self.warn(codes::FIELD_MASKED, Some(name)),
            Status::Bad(code) => self.warn(code, Some(name)),
            _ => {}
        }
        if r.cleaned {
            self.warn(codes::TEXT_CLEANED, Some(name));
        }
        if r.disagree {
            self.warn(codes::DATE_SOURCES_DISAGREE, Some(name));
        }
    }

    /// Put the MRZ value into a field: fills a gap (warned) or replaces a visual value.
    fn set_from_mrz(&mut self, field: Field, value: String) {
        let name = field.name();
        if let Some(ev) = self.fields.get_mut(name) {
            if ev.masked {
                return;
            }
            let filled = ev.value.is_none();
            ev.value = Some(value);
            ev.source = ValueSource::Mrz;
            if filled {
                self.warn(codes::VALUE_FROM_MRZ, Some(name));
            }
        }
    }

    fn value(&self, field: Field) -> Option<String> {
        self.fields.get(field.name()).and_then(|e| e.value.clone())
    }

    fn insert(&mut self, field: Field, evidence: FieldEvidence) {
        self.fields.insert(field.name().to_owned(), evidence);
    }
}

fn clean_value<T: Clone>(p: &Picked<'_, T>) -> Option<T> {
    (p.reading.status == Status::Ok)
        .then(|| p.reading.value.clone())
        .flatten()
}

/// Version of what [`normalize`] makes of an answer. Bump it with any change to its output;
/// result-store entries record it (a reused entry is normalized again whatever it says).
pub const NORMALIZER_VERSION: u32 = 1;

/// Normalize a `pp` section. `is_confident` is the service's flag; `today` the processing date.
pub fn normalize(pp: &PassportFields, is_confident: Option<bool>, today: NaiveDate) -> Normalized {
    let mut out = Out::default();

    let doc = pick(&pp.r#type, readers::code);
    let issuing = pick(&pp.issue_country, readers::country);
    let number = pick(&pp.num, readers::number);
    let surname = pick(&pp.sur_name, readers::name);
    let given = pick(&pp.given_name, readers::name);
    let nationality = pick(&pp.nationality, readers::country);
    let birth = pick(&pp.birth_date, readers::date);
    let sex = pick(&pp.sex, readers::sex);
    let issue = pick(&pp.issue_date, readers::date);
    let expiry = pick(&pp.expire_date, readers::date);
    let authority = pick(&pp.authority, readers::free_text);
    let korean = pick(&pp.full_name_kor, readers::korean);

    out.visual(Field::DocumentCode, &doc);
    out.visual(Field::IssuingCountry, &issuing);
    out.visual(Field::Number, &number);
    out.visual(Field::Surname, &surname);
    out.visual(Field::GivenNames, &given);
    out.visual(Field::Nationality, &nationality);
    out.visual(Field::BirthDate, &birth);
    out.visual(Field::Sex, &sex);
    out.visual(Field::IssueDate, &issue);
    out.visual(Field::ExpiryDate, &expiry);
    out.visual(Field::Authority, &authority);
    out.visual(Field::FullNameKorean, &korean);

    let visual = cross::Visual {
        number: clean_value(&number),
        birth_date: clean_value(&birth),
        expiry_date: clean_value(&expiry),
        sex: clean_value(&sex),
        surname: clean_value(&surname),
        given_names: clean_value(&given),
        nationality: clean_value(&nationality),
        issuing_country: clean_value(&issuing),
    };

    let ctx = DateContext {
        today,
        issue_date: issue.reading.value,
    };
    let zone = zone::read(&pp.mrz1, &pp.mrz2, &ctx);
    let mut checks = Checks {
        mrz_present: zone.is_some(),
        mrz_valid: false,
        mrz_valid_after_suggested_repair: false,
        check_digits: CheckDigits::default(),
        mrz_matches_visual: None,
        mismatches: Vec::new(),
        expired: None,
        is_confident,
        min_field_confidence: None,
    };
    let mut mrz_lines = None;
    let mut repairs = Vec::new();
    match zone {
        None => {
            out.insert(Field::MrzLine1, empty_evidence());
            out.insert(Field::MrzLine2, empty_evidence());
            out.warn(codes::MRZ_MISSING, None);
        }
        Some(mut z) => {
            let r = &z.record;
            checks.mrz_valid = r.is_valid();
            checks.check_digits = r.check_digits;
            let graded = cross::grade(&visual, r);
            checks.mrz_valid_after_suggested_repair = graded.valid_after_suggested_repair;
            mrz_warnings(&mut out, r, &z.line1, &z.line2);
            for rep in &graded.repairs {
                let code = if rep.reason.is_applied() {
                    codes::MRZ_REPAIRED
                } else if rep.reason == RepairReason::RejectedByVisualZone {
                    codes::MRZ_REPAIR_REJECTED
                } else {
                    codes::MRZ_REPAIR_SUGGESTED
                };
                out.warn(code, Some(rep.field.name()));
            }
            repairs = graded.repairs.iter().map(Repair::from).collect();
            if z.line2.value.is_some() {
                z.line2.value = Some(graded.line2.clone());
            }
            if !r.line1.is_empty() && !r.line2.is_empty() {
                mrz_lines = Some(MrzLines {
                    line1: r.line1.clone(),
                    line2: graded.line2,
                });
            }
            let compared = cross::compare(&visual, r);
            checks.mismatches = compared
                .iter()
                .filter(|(_, m)| !m)
                .map(|(f, _)| (*f).to_owned())
                .collect();
            checks.mrz_matches_visual =
                (!compared.is_empty()).then_some(checks.mismatches.is_empty());
            for f in &checks.mismatches {
                out.warn(codes::MRZ_MISMATCH, Some(f));
            }
            apply_mrz(&mut out, r);
            out.insert(Field::MrzLine1, z.line1);
            out.insert(Field::MrzLine2, z.line2);
        }
    }
    for wire in &pp.truncated {
        if let Some(f) = Field::from_clova_key(wire) {
            out.warn(codes::CANDIDATES_TRUNCATED, Some(f.name()));
        }
    }

    let parse_date = |name: Field| {
        out.value(name)
            .and_then(|v| NaiveDate::parse_from_str(&v, "%Y-%m-%d").ok())
    };
    let birth_date = parse_date(Field::BirthDate);
    let issue_date = parse_date(Field::IssueDate);
    let expiry_date = parse_date(Field::ExpiryDate);
    date_plausibility(&mut out, today, birth_date, issue_date, expiry_date);
    checks.expired = expiry_date.map(|e| e < today);
    if checks.expired == Some(true) {
        out.warn(codes::EXPIRED, None);
    }
    if is_confident == Some(false) {
        out.warn(codes::NOT_CONFIDENT, None);
    }
    checks.min_field_confidence = out
        .fields
        .values()
        .filter_map(|e| e.confidence)
        .min_by(f64::total_cmp);

    let passport = Passport {
        document_code: out.value(Field::DocumentCode),
        issuing_country: out.value(Field::IssuingCountry),
        number: out.value(Field::Number),
        surname: out.value(Field::Surname),
        given_names: out.value(Field::GivenNames),
        nationality: out.value(Field::Nationality),
        birth_date,
        sex: out.value(Field::Sex).and_then(|s| match s.as_str() {
            "M" => Some(Sex::M),
            "F" => Some(Sex::F),
            "X" => Some(Sex::X),
            _ => None,
        }),
        issue_date,
        expiry_date,
        authority: out.value(Field::Authority),
        full_name_korean: out.value(Field::FullNameKorean),
        mrz: mrz_lines,
    };
    Normalized {
        passport,
        fields: out.fields,
        checks,
        repairs,
        warnings: out.warnings,
    }
}

fn empty_evidence() -> FieldEvidence {
    FieldEvidence {
        raw: None,
        value: None,
        confidence: None,
        bounding_box: None,
        candidates: 0,
        masked: false,
        source: ValueSource::Absent,
    }
}

fn mrz_warnings(out: &mut Out, r: &Td3Record, l1: &FieldEvidence, l2: &FieldEvidence) {
    let missing1 = l1.value.is_none();
    let missing2 = l2.value.is_none();
    match (missing1, missing2) {
        (true, false) => out.warn(codes::MRZ_MISSING, Some(Field::MrzLine1.name())),
        (false, true) => out.warn(codes::MRZ_MISSING, Some(Field::MrzLine2.name())),
        _ => {}
    }
    if !r.is_valid() {
        out.warn(codes::MRZ_INVALID, None);
    }
    if l1.masked {
        out.warn(codes::FIELD_MASKED, Some(Field::MrzLine1.name()));
    }
    if l2.masked {
        out.warn(codes::FIELD_MASKED, Some(Field::MrzLine2.name()));
    }
    for d in &r.defects {
        let code = match d.kind {
            DefectKind::Missing | DefectKind::Masked => continue,
            DefectKind::WrongLength => codes::MRZ_WRONG_LENGTH,
            DefectKind::InvalidCharacter => codes::MRZ_INVALID_CHARACTER,
            DefectKind::Malformed => codes::MRZ_MALFORMED,
            DefectKind::ImpossibleDate => codes::MRZ_DATE_INVALID,
            DefectKind::CheckDigitMismatch => codes::MRZ_CHECK_DIGIT_FAILED,
        };
        out.warn(code, Some(d.field.name()));
    }
}

/// Take values from the MRZ: check-digit fields when valid; gaps when valid; country codes
/// from a well-formed MRZ field holding a known ICAO code when the visual zone has no code.
fn apply_mrz(out: &mut Out, r: &Td3Record) {
    use crate::mrz::MrzField;
    let f = &r.fields;
    let has_clean = |out: &Out, name: Field| {
        out.fields
            .get(name.name())
            .is_some_and(|e| e.value.is_some() && !e.masked)
    };
    for (name, field, code) in [
        (
            Field::IssuingCountry,
            MrzField::IssuingState,
            &f.issuing_state,
        ),
        (Field::Nationality, MrzField::Nationality, &f.nationality),
    ] {
        let visual_known = out
            .value(name)
            .is_some_and(|v| country::lookup(&v).is_some());
        if !visual_known && r.field_ok(field) && country::is_code(code) {
            out.set_from_mrz(name, code.clone());
        }
    }
    if !r.is_valid() {
        return;
    }
    out.set_from_mrz(Field::Number, f.number.clone());
    if let Some(d) = r.birth_date {
        out.set_from_mrz(Field::BirthDate, d.format("%Y-%m-%d").to_string());
    }
    if let Some(d) = r.expiry_date {
        out.set_from_mrz(Field::ExpiryDate, d.format("%Y-%m-%d").to_string());
    }
    let sex = Sex::from_mrz(f.sex).map(|s| s.as_str().to_owned());
    for (name, value) in [
        (Field::DocumentCode, Some(f.document_code.clone())),
        (Field::Surname, Some(f.surname.clone())),
        (Field::GivenNames, Some(f.given_names.clone())),
        (Field::Sex, sex),
    ] {
        if let Some(v) = value.filter(|v| !v.is_empty())
            && !has_clean(out, name)
        {
            out.set_from_mrz(name, v);
        }
    }
}

fn date_plausibility(
    out: &mut Out,
    today: NaiveDate,
    birth: Option<NaiveDate>,
    issue: Option<NaiveDate>,
    expiry: Option<NaiveDate>,
) {
    if birth.is_some_and(|b| b > today || issue.is_some_and(|i| b > i)) {
        out.warn(codes::DATE_IMPLAUSIBLE, Some(Field::BirthDate.name()));
    }
    if issue.is_some_and(|i| i > today) {
        out.warn(codes::DATE_IMPLAUSIBLE, Some(Field::IssueDate.name()));
    }
    if let (Some(i), Some(e)) = (issue, expiry)
        && e <= i
    {
        out.warn(codes::DATE_IMPLAUSIBLE, Some(Field::ExpiryDate.name()));
    }
}
