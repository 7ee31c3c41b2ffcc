//! Visual-zone dates: the vendor's `formatted` year/month/day, or free text.
//!
//! Accepted text shapes (case-insensitive, any separators):
//! `August 15, 2020`, `15 AUG 2020`, `15 8월/AUG 2020`, `2020년 8월 15일`, `2020.08.15`,
//! `2020-08-15`, `15.08.2020` (numeric day-month-year), `20200815`. English month names and
//! abbreviations plus the French and German abbreviations printed on passports are known.
//! When the text names the month twice (`8월/AUG`) both must agree.

use chrono::NaiveDate;

use crate::clova::Formatted;

/// Outcome of reading a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateRead {
    /// A real date.
    Date(NaiveDate),
    /// The shape is clear (year, month and day found) but no such date exists (e.g. 30 Feb).
    Impossible,
    /// Not recognisable as a date.
    Unparsed,
}

fn ymd(y: &str, m: &str, d: &str) -> DateRead {
    let num = |s: &str, max_len: usize| -> Option<u32> {
        let s = s.trim();
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (num(y, 4), num(m, 2), num(d, 2)) else {
        return DateRead::Unparsed;
    };
    if y < 1000 {
        return DateRead::Unparsed;
    }
    match i32::try_from(y)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, m, d))
    {
        Some(date) => DateRead::Date(date),
        None => DateRead::Impossible,
    }
}

/// Read `formatted.year/month/day`; `None` unless all three are present.
pub fn from_formatted(f: &Formatted) -> Option<DateRead> {
    Some(ymd(
        f.year.as_deref()?,
        f.month.as_deref()?,
        f.day.as_deref()?,
    ))
}

const MONTHS: [(&str, u32); 12] = [
    ("JANUARY", 1),
    ("FEBRUARY", 2),
    ("MARCH", 3),
    ("APRIL", 4),
    ("MAY", 5),
    ("JUNE", 6),
    ("JULY", 7),
    ("AUGUST", 8),
    ("SEPTEMBER", 9),
    ("OCTOBER", 10),
    ("NOVEMBER", 11),
    ("DECEMBER", 12),
];

const MONTH_ABBREVIATIONS: [(&str, u32); 17] = [
    ("FEV", 2),
    ("FÉV", 2),
    ("MARS", 3),
    ("MÄR", 3),
    ("MRZ", 3),
    ("AVR", 4),
    ("MAI", 5),
    ("JUIN", 6),
    ("JUIL", 7),
    ("AOU", 8),
    ("AOÛ", 8),
    ("AOUT", 8),
    ("AOÛT", 8),
    ("OKT", 10),
    ("DÉC", 12),
    ("DEZ", 12),
    ("SEPT", 9),
];

fn month_of(word: &str) -> Option<u32> {
    if let Some((_, m)) = MONTH_ABBREVIATIONS.iter().find(|(w, _)| *w == word) {
        return Some(*m);
    }
    if word.chars().count() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .find(|(name, _)| name.starts_with(word))
        .map(|(_, m)| *m)
}

#[derive(Debug)]
enum Token {
    Num(String),
    Word(String),
}

fn tokens(s: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_digit = false;
    let flush = |cur: &mut String, digit: bool, out: &mut Vec<Token>| {
        if !cur.is_empty() {
            let t = std::mem::take(cur);
            out.push(if digit { Token::Num(t) } else { Token::Word(t) });
        }
    };
    for c in s.chars() {
        let is_digit = c.is_ascii_digit();
        let is_word = !is_digit && c.is_alphabetic();
        if !(is_digit || is_word) || (!cur.is_empty() && cur_digit != is_digit) {
            flush(&mut cur, cur_digit, &mut out);
        }
        if is_digit || is_word {
            cur_digit = is_digit;
            cur.extend(c.to_uppercase());
        }
    }
    flush(&mut cur, cur_digit, &mut out);
    out
}

/// Read a date from free text.
pub fn from_text(s: &str) -> DateRead {
    let toks = tokens(s);
    if toks.len() > 12 {
        return DateRead::Unparsed;
    }
    // Numbers with the Korean unit that follows them, if any.
    let mut nums: Vec<(&str, Option<&str>)> = Vec::new();
    let mut months: Vec<u32> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t {
            Token::Num(n) => {
                let unit = match toks.get(i + 1) {
                    Some(Token::Word(w)) if matches!(w.as_str(), "년" | "월" | "일") => {
                        Some(w.as_str())
                    }
                    _ => None,
                };
                nums.push((n, unit));
            }
            Token::Word(w) => months.extend(month_of(w)),
        }
    }
    for (n, unit) in &nums {
        if *unit == Some("월") {
            match n.parse() {
                Ok(m) => months.push(m),
                Err(_) => return DateRead::Unparsed,
            }
        }
    }
    if let Some(&m) = months.first() {
        if months.iter().any(|x| *x != m) {
            return DateRead::Unparsed;
        }
        let years: Vec<&str> = nums
            .iter()
            .filter(|(n, u)| *u == Some("년") || (u.is_none() && n.len() == 4))
            .map(|(n, _)| *n)
            .collect();
        let days: Vec<&str> = nums
            .iter()
            .filter(|(n, u)| *u == Some("일") || (u.is_none() && n.len() <= 2))
            .map(|(n, _)| *n)
            .collect();
        let rest = nums.len() - years.len() - days.len();
        let marked_months = nums.iter().filter(|(_, u)| *u == Some("월")).count();
        return match (&years[..], &days[..]) {
            (&[y], &[d]) if rest == marked_months => ymd(y, &m.to_string(), d),
            _ => DateRead::Unparsed,
        };
    }
    if toks.iter().any(|t| matches!(t, Token::Word(_))) {
        return DateRead::Unparsed;
    }
    let n: Vec<&str> = nums.iter().map(|(n, _)| *n).collect();
    match n[..] {
        [all] if all.len() == 8 => ymd(&all[0..4], &all[4..6], &all[6..8]),
        [y, m, d] if y.len() == 4 && m.len() <= 2 && d.len() <= 2 => ymd(y, m, d),
        [d, m, y] if y.len() == 4 && m.len() <= 2 && d.len() <= 2 => ymd(y, m, d),
        _ => DateRead::Unparsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let d = |y, m, d| DateRead::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        for (s, want) in [
            ("August 15, 2020", d(2020, 8, 15)),
            ("15 AUG 2020", d(2020, 8, 15)),
            ("15 8월/AUG 2020", d(2020, 8, 15)),
            ("15 8월 /AUG 2020", d(2020, 8, 15)),
            ("2020년 8월 15일", d(2020, 8, 15)),
            ("2020.08.15", d(2020, 8, 15)),
            ("15.08.2020", d(2020, 8, 15)),
            ("20200815", d(2020, 8, 15)),
            ("15 AOÛT/AUG 2020", d(2020, 8, 15)),
            ("Sept 1 1999", d(1999, 9, 1)),
            ("30 FEB 2020", DateRead::Impossible),
            ("2020.02.30", DateRead::Impossible),
            ("15 9월/AUG 2020", DateRead::Unparsed),
            ("15 AUG", DateRead::Unparsed),
            ("", DateRead::Unparsed),
            ("2O20.08.15", DateRead::Unparsed),
            ("200815", DateRead::Unparsed),
        ] {
            assert_eq!(from_text(s), want, "{s}");
        }
    }
}
