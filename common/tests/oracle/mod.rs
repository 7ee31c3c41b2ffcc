//! An independent ICAO 9303 TD3 oracle for the tests (issue 11).
//!
//! Written from ICAO Doc 9303 Part 3 (character values, the 7-3-1 check digit) and Part 4 (the
//! TD3 layout and field formats) alone: it shares no code with `ocr_common::mrz`.
//! `scripts/mrz-oracle/` cross-checks its check digits against the pinned PyPI `mrz` package.

// Each test crate that includes this module uses only part of it.
#![allow(dead_code)]

/// ICAO 9303 Part 3 §4.9: `0-9` → 0-9, `A-Z` → 10-35, `<` → 0.
pub fn oracle_value(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        b'A'..=b'Z' => Some(u32::from(b - b'A') + 10),
        b'<' => Some(0),
        _ => None,
    }
}

/// Weighted sum mod 10 with weights 7, 3, 1.
pub fn oracle_cd(s: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    let mut w = [7u32, 3, 1].into_iter().cycle();
    for &b in s {
        sum += oracle_value(b)? * w.next()?;
    }
    Some((sum % 10) as u8)
}

pub fn oracle_cd_char(s: &[u8]) -> u8 {
    b'0' + oracle_cd(s).unwrap()
}

fn is_upper(b: u8) -> bool {
    b.is_ascii_uppercase()
}

pub fn oracle_date_ok(d: &[u8]) -> bool {
    if d.len() != 6 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = |i: usize| u32::from(d[i] - b'0') * 10 + u32::from(d[i + 1] - b'0');
    let (yy, mm, dd) = (n(0), n(2), n(4));
    let leap = yy % 4 == 0; // 19YY/20YY/21YY: 2000 is the only century year and it is leap
    let dim = match mm {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=dim).contains(&dd)
}

/// Does the TD3 pair pass every check digit and the format, read exactly as given?
pub fn oracle_valid(l1: &[u8], l2: &[u8]) -> bool {
    if l1.len() != 44 || l2.len() != 44 {
        return false;
    }
    if !l1.iter().chain(l2).all(|b| oracle_value(*b).is_some()) {
        return false;
    }
    let letters_or_filler = |s: &[u8]| s.iter().all(|b| is_upper(*b) || *b == b'<');
    let code3 = |s: &[u8]| is_upper(s[0]) && letters_or_filler(s);
    // Line 1.
    if !(is_upper(l1[0]) && (is_upper(l1[1]) || l1[1] == b'<')) {
        return false;
    }
    if !code3(&l1[2..5]) || !letters_or_filler(&l1[5..44]) {
        return false;
    }
    // Line 2.
    let digit_cd =
        |field: &[u8], cd: u8| cd.is_ascii_digit() && oracle_cd(field) == Some(cd - b'0');
    let number = &l2[0..9];
    if number.iter().all(|b| *b == b'<') || !digit_cd(number, l2[9]) {
        return false;
    }
    if !code3(&l2[10..13]) {
        return false;
    }
    if !oracle_date_ok(&l2[13..19]) || !digit_cd(&l2[13..19], l2[19]) {
        return false;
    }
    if !matches!(l2[20], b'M' | b'F' | b'<') {
        return false;
    }
    if !oracle_date_ok(&l2[21..27]) || !digit_cd(&l2[21..27], l2[27]) {
        return false;
    }
    let personal = &l2[28..42];
    let empty = personal.iter().all(|b| *b == b'<');
    if !(digit_cd(personal, l2[42]) || (empty && matches!(l2[42], b'<' | b'0'))) {
        return false;
    }
    let mut composite = Vec::with_capacity(39);
    composite.extend_from_slice(&l2[0..10]);
    composite.extend_from_slice(&l2[13..20]);
    composite.extend_from_slice(&l2[21..43]);
    digit_cd(&composite, l2[43])
}

/// The OCR confusion pairs, written out independently of the crate.
pub fn oracle_partner(b: u8) -> Option<u8> {
    const PAIRS: [(u8, u8); 6] = [
        (b'O', b'0'),
        (b'I', b'1'),
        (b'B', b'8'),
        (b'S', b'5'),
        (b'Z', b'2'),
        (b'G', b'6'),
    ];
    PAIRS.iter().find_map(|&(l, d)| {
        if b == l {
            Some(d)
        } else if b == d {
            Some(l)
        } else {
            None
        }
    })
}

/// Two lines name the same document: equal, except that an empty personal number's check digit
/// may be `<` or `0` (ICAO 9303 Part 4 §4.2.2 allows both).
pub fn same_document(a2: &[u8], b2: &[u8]) -> bool {
    if a2 == b2 {
        return true;
    }
    let empty = a2.len() == 44 && a2[28..42].iter().all(|b| *b == b'<');
    empty
        && b2.len() == 44
        && a2[..42] == b2[..42]
        && a2[43] == b2[43]
        && matches!(a2[42], b'<' | b'0')
        && matches!(b2[42], b'<' | b'0')
}

/// The five check-digit verdicts of a 44-character line 2, as read: document number, birth
/// date, expiry date, personal number (`<`/`0` accepted when empty), composite. A check digit
/// that is not a digit fails. `None` for a line that is not 44 characters of the alphabet.
pub fn oracle_hashes(l2: &[u8]) -> Option<[bool; 5]> {
    if l2.len() != 44 || !l2.iter().all(|b| oracle_value(*b).is_some()) {
        return None;
    }
    let ok = |field: &[u8], cd: u8| cd.is_ascii_digit() && oracle_cd(field) == Some(cd - b'0');
    let personal = &l2[28..42];
    let empty = personal.iter().all(|b| *b == b'<');
    let mut composite = l2[0..10].to_vec();
    composite.extend_from_slice(&l2[13..20]);
    composite.extend_from_slice(&l2[21..43]);
    Some([
        ok(&l2[0..9], l2[9]),
        ok(&l2[13..19], l2[19]),
        ok(&l2[21..27], l2[27]),
        ok(personal, l2[42]) || (empty && matches!(l2[42], b'<' | b'0')),
        ok(&composite, l2[43]),
    ])
}
