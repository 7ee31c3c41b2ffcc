//! Visual-zone sex from noisy text.

use serde::{Deserialize, Serialize};

/// Sex as printed in the visual zone: `M`, `F` or `X` (unspecified; `<` in the MRZ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    /// Male.
    M,
    /// Female.
    F,
    /// Unspecified.
    X,
}

impl Sex {
    /// The letter.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::M => "M",
            Sex::F => "F",
            Sex::X => "X",
        }
    }

    /// From the MRZ sex character (`<` is `X`).
    pub fn from_mrz(c: char) -> Option<Sex> {
        match c {
            'M' => Some(Sex::M),
            'F' => Some(Sex::F),
            '<' => Some(Sex::X),
            _ => None,
        }
    }
}

/// Read sex from noisy text: Latin words (`M`, `MALE`, `F`, `FEMALE`, `X`, and French/Spanish
/// forms) as separate words, Hangul `남`/`여`, Han `男`/`女`, and `<`. Everything else is noise
/// and ignored (`"F んだ"` is `F`). Conflicting signs (`M/F`) read as `None`.
pub fn parse_sex(s: &str) -> Option<Sex> {
    let upper = s.to_uppercase();
    let mut votes: Vec<Sex> = Vec::new();
    for word in upper.split(|c: char| !c.is_alphabetic() || !c.is_ascii()) {
        votes.extend(match word {
            "M" | "MALE" | "MAN" | "MASCULIN" | "MASCULINO" => Some(Sex::M),
            "F" | "FEMALE" | "WOMAN" | "FÉMININ" | "FEMININ" | "FEMENINO" => Some(Sex::F),
            "X" => Some(Sex::X),
            _ => None,
        });
    }
    for c in upper.chars() {
        votes.extend(match c {
            '남' | '男' => Some(Sex::M),
            '여' | '女' => Some(Sex::F),
            '<' => Some(Sex::X),
            _ => None,
        });
    }
    let first = *votes.first()?;
    votes.iter().all(|v| *v == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noisy() {
        for (s, want) in [
            ("F んだ", Some(Sex::F)),
            ("M", Some(Sex::M)),
            ("남", Some(Sex::M)),
            ("여/F", Some(Sex::F)),
            ("FEMALE", Some(Sex::F)),
            ("male", Some(Sex::M)),
            ("X", Some(Sex::X)),
            ("M/F", None),
            ("남 F", None),
            ("", None),
            ("んだ", None),
            ("FM", None),
        ] {
            assert_eq!(parse_sex(s), want, "{s}");
        }
    }
}
