//! Parse and validate a TD3 MRZ.
//!
//! "Valid" means: both lines exactly 44 characters of `A-Z0-9<`, every field well-formed
//! (document code a letter then a letter or `<`; state codes letters or `<`, starting with a
//! letter; names letters or `<`; dates real dates; sex `M`, `F` or `<`), and all five check
//! digits pass. Anything else is reported as a [`MrzDefect`]; nothing is guessed.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::dates::{DateContext, resolve_birth, resolve_expiry};
use super::repair::{self, MrzSuggestion};
use super::{Td3Fields, char_value, check_digit};

/// Length of a TD3 line.
pub const TD3_LINE_LEN: usize = 44;

/// Character positions (0-based) of the TD3 fields.
pub(super) mod layout {
    use std::ops::Range;

    use super::MrzField;

    pub const STATE: Range<usize> = 2..5;
    pub const NAME: Range<usize> = 5..44;
    pub const NUMBER: Range<usize> = 0..9;
    pub const NUMBER_CD: usize = 9;
    pub const NATIONALITY: Range<usize> = 10..13;
    pub const BIRTH: Range<usize> = 13..19;
    pub const BIRTH_CD: usize = 19;
    pub const SEX: usize = 20;
    pub const EXPIRY: Range<usize> = 21..27;
    pub const EXPIRY_CD: usize = 27;
    pub const PERSONAL: Range<usize> = 28..42;
    pub const PERSONAL_CD: usize = 42;
    pub const COMPOSITE_CD: usize = 43;

    /// Position in line 1 where the given names start: after the first `<<` of the name area.
    fn given_start(l1: &[char]) -> usize {
        (NAME.start..NAME.end.saturating_sub(1))
            .find(|&i| l1.get(i) == Some(&'<') && l1.get(i + 1) == Some(&'<'))
            .map_or(NAME.end, |i| i + 2)
    }

    /// Whether a name-area position of line 1 belongs to the surname or the given names.
    pub fn name_field(l1: &[char], pos: usize) -> MrzField {
        if pos < given_start(l1) {
            MrzField::Surname
        } else {
            MrzField::GivenNames
        }
    }

    /// Split the name area into (surname area, given names area).
    pub fn split_name(l1: &[char]) -> (&[char], &[char]) {
        let g = given_start(l1).min(l1.len());
        let s_end = if g < NAME.end { g - 2 } else { g };
        let surname = l1.get(NAME.start..s_end.max(NAME.start)).unwrap_or(&[]);
        let given = l1.get(g..NAME.end.min(l1.len())).unwrap_or(&[]);
        (surname, given)
    }
}

/// A part of the MRZ, named as in the normalized record (see [`MrzField::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MrzField {
    /// The whole first line.
    Line1,
    /// The whole second line.
    Line2,
    /// Document code (line 1, 1-2).
    DocumentCode,
    /// Issuing state (line 1, 3-5).
    IssuingState,
    /// Primary identifier (line 1, name area before `<<`).
    Surname,
    /// Secondary identifier (line 1, name area after `<<`).
    GivenNames,
    /// Document number and its check digit (line 2, 1-10).
    Number,
    /// Nationality (line 2, 11-13).
    Nationality,
    /// Birth date and its check digit (line 2, 14-20).
    BirthDate,
    /// Sex (line 2, 21).
    Sex,
    /// Expiry date and its check digit (line 2, 22-28).
    ExpiryDate,
    /// Personal number and its check digit (line 2, 29-43).
    PersonalNumber,
    /// Composite check digit (line 2, 44).
    Composite,
}

impl MrzField {
    /// Stable name, matching the normalized record's field names where one exists.
    pub fn name(self) -> &'static str {
        match self {
            MrzField::Line1 => "mrz.line1",
            MrzField::Line2 => "mrz.line2",
            MrzField::DocumentCode => "document_code",
            MrzField::IssuingState => "issuing_country",
            MrzField::Surname => "surname",
            MrzField::GivenNames => "given_names",
            MrzField::Number => "number",
            MrzField::Nationality => "nationality",
            MrzField::BirthDate => "birth_date",
            MrzField::Sex => "sex",
            MrzField::ExpiryDate => "expiry_date",
            MrzField::PersonalNumber => "personal_number",
            MrzField::Composite => "composite",
        }
    }
}

/// What is wrong with a part of the MRZ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefectKind {
    /// The line is absent or empty.
    Missing,
    /// The line is not 44 characters long (its fields are then not read).
    WrongLength,
    /// The line holds characters outside `A-Z0-9<` (other than the mask `*`).
    InvalidCharacter,
    /// The line or field holds masked characters (`*`).
    Masked,
    /// The field does not have its required shape.
    Malformed,
    /// The date field is six digits but no such date exists.
    ImpossibleDate,
    /// The check digit does not match.
    CheckDigitMismatch,
}

/// One defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MrzDefect {
    /// Where.
    pub field: MrzField,
    /// What.
    pub kind: DefectKind,
}

/// Why a character was (or may be) changed: the grade of a repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepairReason {
    /// Applied. The position only admits digits (or only letters) by the ICAO field type.
    FieldType,
    /// Applied. The issuing state's established document-number format fixes the position's
    /// type, and the check digit then passes (see [`super::repair`]).
    IssuerFormat,
    /// Not applied. The only confusion swap(s) after which the check digits pass; a check digit
    /// cannot tell a confusion from any other misread, so this proves nothing.
    CheckDigitSuggestion,
    /// Applied (by `normalize`). A check-digit suggestion that makes the MRZ agree with an
    /// unmasked visual-zone reading of the same field.
    ConfirmedByVisualZone,
    /// Not applied (by `normalize`). A check-digit suggestion that disagrees with an unmasked
    /// visual-zone reading of the same field.
    RejectedByVisualZone,
}

impl RepairReason {
    /// Whether a repair of this grade is written into the MRZ lines as used.
    pub fn is_applied(self) -> bool {
        matches!(
            self,
            RepairReason::FieldType
                | RepairReason::IssuerFormat
                | RepairReason::ConfirmedByVisualZone
        )
    }
}

/// One repaired character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MrzRepair {
    /// The field it belongs to.
    pub field: MrzField,
    /// Line, 1 or 2.
    pub line: u8,
    /// 0-based character position in the line.
    pub position: usize,
    /// Character read.
    pub from: char,
    /// Character written (or suggested).
    pub to: char,
    /// The grade.
    pub reason: RepairReason,
}

/// The five TD3 check digits: `Some(true)` passes, `Some(false)` fails, `None` could not be
/// evaluated (line missing, wrong length, masked or invalid characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckDigits {
    /// Document number (line 2, position 10).
    pub document_number: Option<bool>,
    /// Birth date (position 20).
    pub birth_date: Option<bool>,
    /// Expiry date (position 28).
    pub expiry_date: Option<bool>,
    /// Personal number (position 43; `<` or `0` accepted when the personal number is empty).
    pub personal_number: Option<bool>,
    /// Composite (position 44).
    pub composite: Option<bool>,
}

impl CheckDigits {
    /// All five evaluated and passing.
    pub fn all_pass(&self) -> bool {
        [
            self.document_number,
            self.birth_date,
            self.expiry_date,
            self.personal_number,
            self.composite,
        ]
        .iter()
        .all(|c| *c == Some(true))
    }
}

/// A parsed TD3 MRZ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Td3Record {
    /// Line 1 as used: cleaned (see [`clean_line`]) and repaired by field type.
    pub line1: String,
    /// Line 2 as used: cleaned and repaired by field type and issuer format. Suggestions are
    /// not applied.
    pub line2: String,
    /// The fields, fillers removed and names with single spaces. Fields of a line that is not
    /// 44 characters long are empty (and `sex` is `<`): check [`Td3Record::field_ok`].
    pub fields: Td3Fields,
    /// Birth date with its century resolved ([`resolve_birth`]).
    pub birth_date: Option<NaiveDate>,
    /// Expiry date with its century resolved ([`resolve_expiry`]).
    pub expiry_date: Option<NaiveDate>,
    /// Check digit results.
    pub check_digits: CheckDigits,
    /// Everything that is wrong; empty for a valid MRZ.
    pub defects: Vec<MrzDefect>,
    /// Every character changed ([`RepairReason::FieldType`], [`RepairReason::IssuerFormat`]).
    pub repairs: Vec<MrzRepair>,
    /// When the MRZ is not valid: the alternative sets of check-digit-chosen confusion swaps
    /// after which it would be, none applied. Several alternatives mean the check digits cannot
    /// choose; [`Td3Record::suggestion`] gives the one to offer, if any.
    pub suggestions: Vec<MrzSuggestion>,
}

impl Td3Record {
    /// Well-formed field by field and every check digit passes, as read after the forced
    /// repairs only. Suggestions never count.
    pub fn is_valid(&self) -> bool {
        self.defects.is_empty() && self.check_digits.all_pass()
    }

    /// The suggestion to offer: the only alternative, when there is exactly one.
    pub fn suggestion(&self) -> Option<&MrzSuggestion> {
        match &self.suggestions[..] {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Whether `field` was read from a 44-character line and has no defect of its own
    /// (a failing check digit counts as a defect of its field).
    pub fn field_ok(&self, field: MrzField) -> bool {
        let line = match field {
            MrzField::DocumentCode
            | MrzField::IssuingState
            | MrzField::Surname
            | MrzField::GivenNames
            | MrzField::Line1 => MrzField::Line1,
            _ => MrzField::Line2,
        };
        let line_ok = !self.defects.iter().any(|d| {
            d.field == line && matches!(d.kind, DefectKind::Missing | DefectKind::WrongLength)
        });
        line_ok && !self.defects.iter().any(|d| d.field == field)
    }
}

/// Prepare an OCR'd MRZ line: drop whitespace, upper-case ASCII letters, and read the usual OCR
/// look-alikes of the filler (`«` as `<<`; `‹`, `〈`, `＜`, `く` as `<`).
pub fn clean_line(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            c if c.is_whitespace() => {}
            '«' => out.push_str("<<"),
            '‹' | '〈' | '＜' | 'く' => out.push('<'),
            c => out.push(c.to_ascii_uppercase()),
        }
    }
    out
}

fn is_mrz(c: char) -> bool {
    char_value(c).is_some()
}

fn is_letter_or_filler(c: char) -> bool {
    c.is_ascii_uppercase() || c == '<'
}

fn is_alnum_or_filler(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '<'
}

/// Line-level checks. Returns whether the line has the right length.
fn check_line(l: &[char], field: MrzField, defects: &mut Vec<MrzDefect>) -> bool {
    let mut push = |kind| defects.push(MrzDefect { field, kind });
    if l.is_empty() {
        push(DefectKind::Missing);
        return false;
    }
    if l.len() != TD3_LINE_LEN {
        push(DefectKind::WrongLength);
    }
    if l.contains(&'*') {
        push(DefectKind::Masked);
    }
    if l.iter().any(|c| *c != '*' && !is_mrz(*c)) {
        push(DefectKind::InvalidCharacter);
    }
    l.len() == TD3_LINE_LEN
}

/// Field-level shape check: masked, else malformed when any character fails `ok`.
fn shape(chars: &[char], ok: impl Fn(char) -> bool) -> Option<DefectKind> {
    if chars.contains(&'*') {
        Some(DefectKind::Masked)
    } else if !chars.iter().all(|c| ok(*c)) {
        Some(DefectKind::Malformed)
    } else {
        None
    }
}

fn text(chars: &[char]) -> String {
    chars.iter().collect()
}

fn trim_fillers(chars: &[char]) -> String {
    text(chars).trim_end_matches('<').to_owned()
}

fn name_text(chars: &[char]) -> String {
    text(chars)
        .split('<')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Check digit over `field` against `cd`: `None` if anything is masked or outside the alphabet.
fn check(field: &[char], cd: char, filler_ok: bool) -> Option<bool> {
    if field.iter().chain([&cd]).any(|c| !is_mrz(*c)) {
        return None;
    }
    if filler_ok && field.iter().all(|c| *c == '<') && (cd == '<' || cd == '0') {
        return Some(true);
    }
    let want = cd.to_digit(10)?;
    Some(check_digit(&text(field)).map(u32::from) == Some(want))
}

/// Parse, repair (see [`super::repair`]) and validate a TD3 MRZ. Never panics.
pub fn parse_td3(line1: &str, line2: &str, ctx: &DateContext) -> Td3Record {
    let mut l1: Vec<char> = clean_line(line1).chars().collect();
    let mut l2: Vec<char> = clean_line(line2).chars().collect();
    let mut repairs = Vec::new();
    let repairable1 = l1.len() == TD3_LINE_LEN && !l1.contains(&'*');
    let repairable2 = l2.len() == TD3_LINE_LEN && !l2.contains(&'*');
    let mut format = None;
    if repairable1 {
        repair::force_line1(&mut l1, &mut repairs);
        format = repair::issuer_format(&l1[layout::STATE]);
    }
    if repairable2 {
        repair::force_line2(&mut l2, &mut repairs);
        if let Some(f) = format {
            repair::force_issuer(&mut l2, f, &mut repairs);
        }
    }
    let mut record = validate(l1, l2, ctx);
    record.repairs = repairs;
    if repairable2 && !record.is_valid() {
        record.suggestions = suggest(&record, format, ctx);
    }
    record
}

/// Rule 3 (see [`super::repair`]): every combination of at most one candidate swap per failing
/// alphanumeric field after which the whole MRZ validates.
fn suggest(
    record: &Td3Record,
    format: Option<&[repair::Slot; 9]>,
    ctx: &DateContext,
) -> Vec<MrzSuggestion> {
    let l2: Vec<char> = record.line2.chars().collect();
    let Some(per_field) = repair::candidate_swaps(&l2, format) else {
        return Vec::new();
    };
    let l1: Vec<char> = record.line1.chars().collect();
    let mut out = Vec::new();
    let empty = [None];
    let (number, personal) = match &per_field[..] {
        [a, b] => (a.as_slice(), b.as_slice()),
        _ => (&empty[..], &empty[..]),
    };
    for a in number {
        for b in personal {
            let swaps: Vec<MrzRepair> = [a, b].into_iter().flatten().copied().collect();
            if swaps.is_empty() {
                continue;
            }
            let mut trial = l2.clone();
            for s in &swaps {
                trial[s.position] = s.to;
            }
            if validate(l1.clone(), trial, ctx).is_valid() {
                out.push(MrzSuggestion { swaps });
            }
        }
    }
    out
}

/// Validate lines that are already cleaned and repaired (no repairs, no suggestions made).
fn validate(l1: Vec<char>, l2: Vec<char>, ctx: &DateContext) -> Td3Record {
    let mut defects = Vec::new();
    let ok1 = check_line(&l1, MrzField::Line1, &mut defects);
    let ok2 = check_line(&l2, MrzField::Line2, &mut defects);

    let mut fields = Td3Fields {
        document_code: String::new(),
        issuing_state: String::new(),
        surname: String::new(),
        given_names: String::new(),
        number: String::new(),
        nationality: String::new(),
        birth_yymmdd: String::new(),
        sex: '<',
        expiry_yymmdd: String::new(),
        personal_number: String::new(),
    };
    let mut push = |field, kind: Option<DefectKind>| {
        if let Some(kind) = kind {
            defects.push(MrzDefect { field, kind });
        }
    };
    let state_ok = |c: &[char]| {
        shape(c, is_letter_or_filler).or_else(|| {
            (!c.first().is_some_and(char::is_ascii_uppercase)).then_some(DefectKind::Malformed)
        })
    };

    if ok1 {
        let doc = &l1[0..2];
        push(
            MrzField::DocumentCode,
            shape(doc, is_letter_or_filler)
                .or_else(|| (!doc[0].is_ascii_uppercase()).then_some(DefectKind::Malformed)),
        );
        fields.document_code = trim_fillers(doc);
        let state = &l1[layout::STATE];
        push(MrzField::IssuingState, state_ok(state));
        fields.issuing_state = trim_fillers(state);
        let (sur, given) = layout::split_name(&l1);
        push(MrzField::Surname, shape(sur, is_letter_or_filler));
        push(MrzField::GivenNames, shape(given, is_letter_or_filler));
        fields.surname = name_text(sur);
        fields.given_names = name_text(given);
    }

    let mut birth_date = None;
    let mut expiry_date = None;
    let mut cds = CheckDigits::default();
    if ok2 {
        let number = &l2[layout::NUMBER];
        push(
            MrzField::Number,
            shape(number, is_alnum_or_filler).or_else(|| {
                number
                    .iter()
                    .all(|c| *c == '<')
                    .then_some(DefectKind::Malformed)
            }),
        );
        fields.number = trim_fillers(number);
        cds.document_number = check(number, l2[layout::NUMBER_CD], false);

        let nat = &l2[layout::NATIONALITY];
        push(MrzField::Nationality, state_ok(nat));
        fields.nationality = trim_fillers(nat);

        let birth = &l2[layout::BIRTH];
        fields.birth_yymmdd = text(birth);
        birth_date = resolve_birth(&fields.birth_yymmdd, ctx.today);
        push(MrzField::BirthDate, date_defect(birth, birth_date));
        cds.birth_date = check(birth, l2[layout::BIRTH_CD], false);

        let sex = l2[layout::SEX];
        fields.sex = sex;
        push(
            MrzField::Sex,
            shape(&[sex], |c| matches!(c, 'M' | 'F' | '<')),
        );

        let expiry = &l2[layout::EXPIRY];
        fields.expiry_yymmdd = text(expiry);
        expiry_date = resolve_expiry(&fields.expiry_yymmdd, ctx);
        push(MrzField::ExpiryDate, date_defect(expiry, expiry_date));
        cds.expiry_date = check(expiry, l2[layout::EXPIRY_CD], false);

        let personal = &l2[layout::PERSONAL];
        push(
            MrzField::PersonalNumber,
            shape(personal, is_alnum_or_filler),
        );
        fields.personal_number = trim_fillers(personal);
        cds.personal_number = check(personal, l2[layout::PERSONAL_CD], true);

        let composite: Vec<char> = repair::composite_source(&l2)
            .unwrap_or_default()
            .chars()
            .collect();
        cds.composite = check(&composite, l2[layout::COMPOSITE_CD], false);
    }
    for (field, result) in [
        (MrzField::Number, cds.document_number),
        (MrzField::BirthDate, cds.birth_date),
        (MrzField::ExpiryDate, cds.expiry_date),
        (MrzField::PersonalNumber, cds.personal_number),
        (MrzField::Composite, cds.composite),
    ] {
        if result == Some(false) {
            defects.push(MrzDefect {
                field,
                kind: DefectKind::CheckDigitMismatch,
            });
        }
    }

    Td3Record {
        line1: text(&l1),
        line2: text(&l2),
        fields,
        birth_date,
        expiry_date,
        check_digits: cds,
        defects,
        repairs: Vec::new(),
        suggestions: Vec::new(),
    }
}

fn date_defect(chars: &[char], resolved: Option<NaiveDate>) -> Option<DefectKind> {
    shape(chars, |c| c.is_ascii_digit())
        .or_else(|| resolved.is_none().then_some(DefectKind::ImpossibleDate))
}
