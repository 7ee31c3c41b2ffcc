//! OCR-confusion repair, applied only where provable.
//!
//! The confusion pairs are `O↔0`, `I↔1`, `B↔8`, `S↔5`, `Z↔2`, `G↔6`. Two rules, in order:
//!
//! 1. **Field type.** A letter from a pair in a digits-only position (dates, check digits) becomes
//!    its digit; a digit from a pair in a letters-only position (document code, state codes,
//!    names) becomes its letter. The position's type proves it.
//! 2. **Check digit.** In the alphanumeric fields with a check digit (document number, personal
//!    number), when the check fails, every single swap of one character for its partner is tried.
//!    The repair is made only when exactly one swap makes the field's check digit pass *and* the
//!    composite check digit then passes too. A swap between characters whose values differ by a
//!    multiple of 10 (`6`/`G`) does not change the check digit, so it can never be chosen: such a
//!    field stays invalid.
//!
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

fn swap_if(c: char, want_digit: bool) -> Option<char> {
    let p = confusable(c)?;
    (p.is_ascii_digit() == want_digit).then_some(p)
}

fn fix(
    line: &mut [char],
    line_no: u8,
    pos: usize,
    want_digit: bool,
    field: MrzField,
    out: &mut Vec<MrzRepair>,
) {
    if let Some(c) = line.get(pos).copied()
        && let Some(to) = swap_if(c, want_digit)
    {
        line[pos] = to;
        out.push(MrzRepair {
            field,
            line: line_no,
            position: pos,
            from: c,
            to,
            reason: RepairReason::FieldType,
        });
    }
}

/// Rule 1 on line 1 (44 characters, unmasked).
pub(super) fn force_line1(l1: &mut [char], out: &mut Vec<MrzRepair>) {
    fix(l1, 1, 0, false, MrzField::DocumentCode, out);
    fix(l1, 1, 1, false, MrzField::DocumentCode, out);
    for pos in layout::STATE {
        fix(l1, 1, pos, false, MrzField::IssuingState, out);
    }
    for pos in layout::NAME {
        let field = layout::name_field(l1, pos);
        fix(l1, 1, pos, false, field, out);
    }
}

/// Rule 1 on line 2 (44 characters, unmasked).
pub(super) fn force_line2(l2: &mut [char], out: &mut Vec<MrzRepair>) {
    fix(l2, 2, layout::NUMBER_CD, true, MrzField::Number, out);
    for pos in layout::NATIONALITY {
        fix(l2, 2, pos, false, MrzField::Nationality, out);
    }
    for pos in layout::BIRTH.chain([layout::BIRTH_CD]) {
        fix(l2, 2, pos, true, MrzField::BirthDate, out);
    }
    for pos in layout::EXPIRY.chain([layout::EXPIRY_CD]) {
        fix(l2, 2, pos, true, MrzField::ExpiryDate, out);
    }
    fix(
        l2,
        2,
        layout::PERSONAL_CD,
        true,
        MrzField::PersonalNumber,
        out,
    );
    fix(l2, 2, layout::COMPOSITE_CD, true, MrzField::Composite, out);
}

fn digit_of(c: char) -> Option<u8> {
    c.to_digit(10).and_then(|d| u8::try_from(d).ok())
}

/// Rule 2 on line 2 (44 characters, unmasked, after rule 1).
pub(super) fn by_check_digit(l2: &mut [char], out: &mut Vec<MrzRepair>) {
    let fields = [
        (MrzField::Number, layout::NUMBER, layout::NUMBER_CD),
        (
            MrzField::PersonalNumber,
            layout::PERSONAL,
            layout::PERSONAL_CD,
        ),
    ];
    for (field, range, cd_pos) in fields {
        let Some(cd) = l2.get(cd_pos).copied().and_then(digit_of) else {
            continue;
        };
        let Some(chars) = l2.get(range.clone()) else {
            continue;
        };
        if chars.iter().any(|c| char_value(*c).is_none()) || chars.iter().all(|c| *c == '<') {
            continue;
        }
        let text: String = chars.iter().collect();
        if check_digit(&text) == Some(cd) {
            continue;
        }
        let mut passing = Vec::new();
        for (i, c) in chars.iter().enumerate() {
            let Some(p) = confusable(*c) else { continue };
            let mut cand: Vec<char> = chars.to_vec();
            cand[i] = p;
            let cand: String = cand.into_iter().collect();
            if check_digit(&cand) == Some(cd) {
                passing.push((range.start + i, *c, p));
            }
        }
        let [(pos, from, to)] = passing[..] else {
            continue;
        };
        l2[pos] = to;
        if composite_passes(l2) {
            out.push(MrzRepair {
                field,
                line: 2,
                position: pos,
                from,
                to,
                reason: RepairReason::CheckDigit,
            });
        } else {
            l2[pos] = from;
        }
    }
}

/// The composite check over positions 1-10, 14-20, 22-43 (1-based) against position 44.
pub(super) fn composite_source(l2: &[char]) -> Option<String> {
    let a = l2.get(0..10)?;
    let b = l2.get(13..20)?;
    let c = l2.get(21..43)?;
    Some(a.iter().chain(b).chain(c).collect())
}

fn composite_passes(l2: &[char]) -> bool {
    let Some(src) = composite_source(l2) else {
        return false;
    };
    let Some(cd) = l2.get(layout::COMPOSITE_CD).copied().and_then(digit_of) else {
        return false;
    };
    check_digit(&src) == Some(cd)
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
}
