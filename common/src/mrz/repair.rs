//! OCR-confusion repair: forced where the position's type proves it, suggested otherwise.
//!
//! The confusion pairs are `O↔0`, `I↔1`, `B↔8`, `S↔5`, `Z↔2`, `G↔6`.
//!
//! 1. **Field type** ([`RepairReason::FieldType`], applied). A letter from a pair in a
//!    digits-only position (dates, check digits) becomes its digit; a digit from a pair in a
//!    letters-only position (document code, state codes, names) becomes its letter.
//! 2. **Issuer format** ([`RepairReason::IssuerFormat`], applied). Where an issuer's
//!    document-number format is publicly established ([`issuer_format`]; today `KOR`), the
//!    positions every known format of that issuer fixes are treated as rule 1 does. Applied only
//!    when the issuing state (line 1, after rule 1) names the issuer, when the number's check
//!    digit passes afterwards, and when no position the format leaves open holds a confusable
//!    character whose swap changes the check digit: otherwise a random misread at a fixed
//!    position plus a confusion at the open one could pass the check together, and the forced
//!    digit would be wrong.
//! 3. **Check-digit suggestion** ([`RepairReason::CheckDigitSuggestion`], *not* applied). In
//!    the document number and personal number, when a check fails, every single confusion swap
//!    is tried (respecting the issuer format, if any); the combinations after which the whole
//!    line validates are returned as [`MrzSuggestion`]s. A check digit is one decimal digit: it
//!    cannot tell a confusion from any other misread, so a suggestion never makes the MRZ
//!    valid. Only independent evidence (the visual zone, in `normalize`) can confirm one.
//!
//! A swap between characters whose values differ by a multiple of 10 (`6`/`G`) does not change
//! any check digit: it is never suggested, and outside forced positions it cannot be seen.
//! Lines that are masked (`*`) or not 44 characters long are never repaired.

use super::parse::{MrzField, MrzRepair, RepairReason, layout};
use super::{char_value, check_digit};

/// The OCR-confusion partner of `c`, if it has one.
pub fn confusable(c: char) -> Option<char> {
    Some(match c {
        'O' => '0',
        '0' => 'O',
        'I' => '1',
        '1' => 'I',
        'B' => '8',
        '8' => 'B',
        'S' => '5',
        '5' => 'S',
        'Z' => '2',
        '2' => 'Z',
        'G' => '6',
        '6' => 'G',
        _ => return None,
    })
}

/// Whether swapping `c` for its partner changes a check digit (values differ mod 10).
fn swap_visible(c: char) -> bool {
    match (confusable(c).and_then(char_value), char_value(c)) {
        (Some(p), Some(v)) => p % 10 != v % 10,
        _ => false,
    }
}

/// What a document-number position must hold, by the issuer's known formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// A digit in every known format.
    Digit,
    /// One of these letters in every known format.
    LetterOf(&'static str),
    /// The known formats disagree (or say nothing): no forced repair.
    Open,
}

/// Korean passports (issuing state `KOR`). Older numbers are one letter and eight digits
/// (`M12345678`; the letter gives the kind: `M`, `S`, `R`, `G`, `D`); next-generation numbers,
/// issued from 21 December 2021, insert a letter in the fifth place (`M123A4567`). Both agree on
/// a kind letter first and digits at 2-4 and 6-9; the fifth place is open. Sources in
/// `docs/normalization.md`. Only `5`→`S` and `6`→`G` can be forced in the first place: `I`, `O`,
/// `B`, `Z` are no kind letter, and forcing to one could hide a misread kind letter with the
/// same check-digit value (`1` for `S`: `I` and `S` differ by 10).
const KOR: [Slot; 9] = [
    Slot::LetterOf("MSRGD"),
    Slot::Digit,
    Slot::Digit,
    Slot::Digit,
    Slot::Open,
    Slot::Digit,
    Slot::Digit,
    Slot::Digit,
    Slot::Digit,
];

/// The established document-number format of the issuing state `state` (line 1, positions
/// 3-5, as the three characters read there), if one is known.
pub(super) fn issuer_format(state: &[char]) -> Option<&'static [Slot; 9]> {
    match state {
        ['K', 'O', 'R'] => Some(&KOR),
        _ => None,
    }
}

/// Whether `number` (the nine characters of line 2, 1-9) fits `format`.
fn fits(number: &[char], format: &[Slot; 9]) -> bool {
    number.iter().zip(format).all(|(c, slot)| match slot {
        Slot::Digit => c.is_ascii_digit(),
        Slot::LetterOf(set) => set.contains(*c),
        Slot::Open => true,
    })
}

fn swap_if(c: char, want_digit: bool) -> Option<char> {
    let p = confusable(c)?;
    (p.is_ascii_digit() == want_digit).then_some(p)
}

/// One position of one line: where a forced repair may happen.
struct Spot {
    line_no: u8,
    pos: usize,
    want_digit: bool,
    field: MrzField,
    reason: RepairReason,
}

fn fix(line: &mut [char], s: Spot, out: &mut Vec<MrzRepair>) {
    if let Some(c) = line.get(s.pos).copied()
        && let Some(to) = swap_if(c, s.want_digit)
    {
        line[s.pos] = to;
        out.push(MrzRepair {
            field: s.field,
            line: s.line_no,
            position: s.pos,
            from: c,
            to,
            reason: s.reason,
        });
    }
}

fn field_type(line_no: u8, pos: usize, want_digit: bool, field: MrzField) -> Spot {
    Spot {
        line_no,
        pos,
        want_digit,
        field,
        reason: RepairReason::FieldType,
    }
}

/// Rule 1 on line 1 (44 characters, unmasked).
pub(super) fn force_line1(l1: &mut [char], out: &mut Vec<MrzRepair>) {
    fix(l1, field_type(1, 0, false, MrzField::DocumentCode), out);
    fix(l1, field_type(1, 1, false, MrzField::DocumentCode), out);
    for pos in layout::STATE {
        fix(l1, field_type(1, pos, false, MrzField::IssuingState), out);
    }
    for pos in layout::NAME {
        let field = layout::name_field(l1, pos);
        fix(l1, field_type(1, pos, false, field), out);
    }
}

/// Rule 1 on line 2 (44 characters, unmasked).
pub(super) fn force_line2(l2: &mut [char], out: &mut Vec<MrzRepair>) {
    fix(
        l2,
        field_type(2, layout::NUMBER_CD, true, MrzField::Number),
        out,
    );
    for pos in layout::NATIONALITY {
        fix(l2, field_type(2, pos, false, MrzField::Nationality), out);
    }
    for pos in layout::BIRTH.chain([layout::BIRTH_CD]) {
        fix(l2, field_type(2, pos, true, MrzField::BirthDate), out);
    }
    for pos in layout::EXPIRY.chain([layout::EXPIRY_CD]) {
        fix(l2, field_type(2, pos, true, MrzField::ExpiryDate), out);
    }
    let personal_cd = field_type(2, layout::PERSONAL_CD, true, MrzField::PersonalNumber);
    fix(l2, personal_cd, out);
    fix(
        l2,
        field_type(2, layout::COMPOSITE_CD, true, MrzField::Composite),
        out,
    );
}

/// Rule 2 on line 2 (44 characters, unmasked, after rule 1): see the module docs.
pub(super) fn force_issuer(l2: &mut [char], format: &[Slot; 9], out: &mut Vec<MrzRepair>) {
    let Some(number) = l2.get(layout::NUMBER) else {
        return;
    };
    let open_can_compensate = number
        .iter()
        .zip(format)
        .any(|(c, slot)| *slot == Slot::Open && swap_visible(*c));
    if open_can_compensate {
        return;
    }
    let mut trial = l2.to_vec();
    let mut made = Vec::new();
    for (pos, slot) in format.iter().enumerate() {
        let want_digit = match slot {
            Slot::Digit => true,
            Slot::LetterOf(set) => {
                let into_set = trial
                    .get(pos)
                    .and_then(|c| swap_if(*c, false))
                    .is_some_and(|to| set.contains(to));
                if !into_set {
                    continue;
                }
                false
            }
            Slot::Open => continue,
        };
        let spot = Spot {
            line_no: 2,
            pos,
            want_digit,
            field: MrzField::Number,
            reason: RepairReason::IssuerFormat,
        };
        fix(&mut trial, spot, &mut made);
    }
    if !made.is_empty() && field_passes(&trial, layout::NUMBER, layout::NUMBER_CD) {
        l2.copy_from_slice(&trial);
        out.extend(made);
    }
}

/// A set of check-digit-chosen confusion swaps after which the whole MRZ validates. Never
/// applied by the parser: see [`RepairReason::CheckDigitSuggestion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrzSuggestion {
    /// The swaps, on line 2, in position order.
    pub swaps: Vec<MrzRepair>,
}

impl MrzSuggestion {
    /// `line2` with the swaps applied (unchanged if it is not 44 characters long).
    pub fn apply(&self, line2: &str) -> String {
        let mut chars: Vec<char> = line2.chars().collect();
        for s in &self.swaps {
            if let Some(c) = chars.get_mut(s.position) {
                *c = s.to;
            }
        }
        chars.into_iter().collect()
    }

    /// The document number (fillers removed) after the swaps.
    pub fn number(&self, line2: &str) -> String {
        let applied = self.apply(line2);
        applied
            .chars()
            .take(layout::NUMBER.end)
            .collect::<String>()
            .trim_end_matches('<')
            .to_owned()
    }

    /// Whether any swap is in the document number.
    pub fn touches_number(&self) -> bool {
        self.swaps.iter().any(|s| s.field == MrzField::Number)
    }
}

fn digit_of(c: char) -> Option<u8> {
    c.to_digit(10).and_then(|d| u8::try_from(d).ok())
}

/// The field's check digit passes (an all-filler personal number with `<`/`0` counts).
fn field_passes(l2: &[char], range: std::ops::Range<usize>, cd_pos: usize) -> bool {
    let Some(chars) = l2.get(range) else {
        return false;
    };
    let cd = l2.get(cd_pos).copied();
    if chars.iter().all(|c| *c == '<') && matches!(cd, Some('<' | '0')) {
        return true;
    }
    let text: String = chars.iter().collect();
    matches!((check_digit(&text), cd.and_then(digit_of)), (Some(a), Some(b)) if a == b)
}

/// Rule 3: the single confusion swaps, per failing alphanumeric field, that make that field's
/// check digit pass; `None` when a failing field has none (nothing can be suggested). Each
/// entry is the list of options for one field (`None` = leave the field as read).
pub(super) fn candidate_swaps(
    l2: &[char],
    format: Option<&[Slot; 9]>,
) -> Option<Vec<Vec<Option<MrzRepair>>>> {
    let fields = [
        (MrzField::Number, layout::NUMBER, layout::NUMBER_CD),
        (
            MrzField::PersonalNumber,
            layout::PERSONAL,
            layout::PERSONAL_CD,
        ),
    ];
    let mut out = Vec::new();
    for (field, range, cd_pos) in fields {
        if field_passes(l2, range.clone(), cd_pos) {
            out.push(vec![None]);
            continue;
        }
        let mut options = Vec::new();
        for pos in range.clone() {
            let c = l2[pos];
            let Some(to) = confusable(c) else { continue };
            let mut trial = l2.to_vec();
            trial[pos] = to;
            let format_ok =
                field != MrzField::Number || format.is_none_or(|f| fits(&trial[layout::NUMBER], f));
            if format_ok && field_passes(&trial, range.clone(), cd_pos) {
                options.push(Some(MrzRepair {
                    field,
                    line: 2,
                    position: pos,
                    from: c,
                    to,
                    reason: RepairReason::CheckDigitSuggestion,
                }));
            }
        }
        if options.is_empty() {
            return None;
        }
        out.push(options);
    }
    Some(out)
}

/// The composite check over positions 1-10, 14-20, 22-43 (1-based) against position 44.
pub(super) fn composite_source(l2: &[char]) -> Option<String> {
    let a = l2.get(0..10)?;
    let b = l2.get(13..20)?;
    let c = l2.get(21..43)?;
    Some(a.iter().chain(b).chain(c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_symmetric() {
        for c in "O0I1B8S5Z2G6".chars() {
            let p = confusable(c).unwrap();
            assert_eq!(confusable(p), Some(c));
            assert_ne!(c.is_ascii_digit(), p.is_ascii_digit());
        }
        assert_eq!(confusable('A'), None);
    }

    #[test]
    fn only_g_and_6_are_invisible() {
        let invisible: String = "O0I1B8S5Z2G6"
            .chars()
            .filter(|c| !swap_visible(*c))
            .collect();
        assert_eq!(invisible, "G6");
        assert!(!swap_visible('A'));
    }

    #[test]
    fn korean_format() {
        let f = issuer_format(&['K', 'O', 'R']).unwrap();
        assert!(fits(&"M12345678".chars().collect::<Vec<_>>(), f));
        assert!(fits(&"M123A4567".chars().collect::<Vec<_>>(), f));
        assert!(!fits(&"M1Z345678".chars().collect::<Vec<_>>(), f));
        assert!(!fits(&"112345678".chars().collect::<Vec<_>>(), f));
        assert!(!fits(&"I12345678".chars().collect::<Vec<_>>(), f));
        assert_eq!(issuer_format(&['K', '0', 'R']), None);
        assert_eq!(issuer_format(&['U', 'T', 'O']), None);
    }
}
