//! Text cleaning for names, numbers and codes.
//!
//! Each cleaner returns the cleaned text and whether it dropped anything other than whitespace
//! and punctuation (so the caller can warn `text_cleaned`). The mask character `*` is always
//! kept: masked values pass through as masked.

/// Collapse runs of whitespace into one space and trim.
pub fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the text carries the vendor's mask character.
pub fn is_masked(s: &str) -> bool {
    s.contains('*')
}

/// Names: Latin letters upper-cased (accented letters kept), `-` and `'` kept between letters,
/// other punctuation and `<` read as a space, single spaces. Digits and other scripts are dropped
/// (reported).
pub fn clean_name(s: &str) -> (String, bool) {
    let mut dropped = false;
    let mut out = String::new();
    for c in s.chars() {
        if c == '*' || is_latin_letter(c) {
            out.extend(c.to_uppercase());
        } else if c == '-' || c == '\'' || c == '’' {
            out.push(if c == '-' { '-' } else { '\'' });
        } else if c.is_whitespace() || c.is_ascii_punctuation() || c == '<' {
            out.push(' ');
        } else {
            dropped = true;
        }
    }
    // `-` and `'` only between letters.
    let chars: Vec<char> = out.chars().collect();
    let joined: String = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let between = i > 0
                && chars
                    .get(i + 1)
                    .is_some_and(|n| n.is_alphabetic() || *n == '*')
                && (chars[i - 1].is_alphabetic() || chars[i - 1] == '*');
            if (c == '-' || c == '\'') && !between {
                ' '
            } else {
                c
            }
        })
        .collect();
    (collapse_ws(&joined), dropped)
}

fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || (c.is_alphabetic() && ('\u{00C0}'..='\u{024F}').contains(&c))
}

/// Passport numbers: upper-cased `A-Z0-9`, spaces and punctuation removed; other characters
/// dropped (reported).
pub fn clean_number(s: &str) -> (String, bool) {
    let mut dropped = false;
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '*' {
            out.push(c.to_ascii_uppercase());
        } else if !(c.is_whitespace() || c.is_ascii_punctuation() || is_ocr_punct(c)) {
            dropped = true;
        }
    }
    (out, dropped)
}

/// Codes (document code, country code text): upper-cased ASCII letters only.
pub fn clean_code(s: &str) -> (String, bool) {
    let mut dropped = false;
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphabetic() || c == '*' {
            out.push(c.to_ascii_uppercase());
        } else if !(c.is_whitespace() || c.is_ascii_punctuation() || is_ocr_punct(c)) {
            dropped = true;
        }
    }
    (out, dropped)
}

/// Punctuation-like characters OCR produces that are not ASCII.
fn is_ocr_punct(c: char) -> bool {
    matches!(
        c,
        '·' | '•'
            | '‧'
            | '。'
            | '、'
            | '«'
            | '»'
            | '‹'
            | '›'
            | '’'
            | '‘'
            | '“'
            | '”'
            | '—'
            | '–'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (s, want, dropped) in [
            ("  hong ", "HONG", false),
            ("gil  dong", "GIL DONG", false),
            ("O'NEIL-SMITH", "O'NEIL-SMITH", false),
            ("- ANNA -", "ANNA", false),
            ("ANNA<MARIA", "ANNA MARIA", false),
            ("José", "JOSÉ", false),
            ("GIL****", "GIL****", false),
            ("HONG 홍", "HONG", true),
            ("HONG1", "HONG", true),
        ] {
            assert_eq!(clean_name(s), (want.to_owned(), dropped), "{s}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(clean_number(" m12 345-678."), ("M12345678".into(), false));
        assert_eq!(clean_number("M123A****"), ("M123A****".into(), false));
        assert_eq!(clean_number("M1234 번"), ("M1234".into(), true));
        assert_eq!(clean_code("K O R"), ("KOR".into(), false));
    }
}
