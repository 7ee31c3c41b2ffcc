//! The record's field vocabulary: one [`Field`] per normalized field, carrying its wire name
//! in the record (`fields`, warnings, mismatches) and its key in CLOVA's `pp` section.

/// A field of the normalized record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `document_code` (CLOVA `type`).
    DocumentCode,
    /// `issuing_country` (CLOVA `issueCountry`).
    IssuingCountry,
    /// `number` (CLOVA `num`).
    Number,
    /// `surname` (CLOVA `surName`).
    Surname,
    /// `given_names` (CLOVA `givenName`).
    GivenNames,
    /// `nationality` (CLOVA `nationality`).
    Nationality,
    /// `birth_date` (CLOVA `birthDate`).
    BirthDate,
    /// `sex` (CLOVA `sex`).
    Sex,
    /// `issue_date` (CLOVA `issueDate`).
    IssueDate,
    /// `expiry_date` (CLOVA `expireDate`).
    ExpiryDate,
    /// `authority` (CLOVA `authority`).
    Authority,
    /// `full_name_korean` (CLOVA `fullNameKor`).
    FullNameKorean,
    /// `mrz.line1` (CLOVA `mrz1`).
    MrzLine1,
    /// `mrz.line2` (CLOVA `mrz2`).
    MrzLine2,
}

impl Field {
    /// Every field, in the record's order.
    pub const ALL: [Field; 14] = [
        Field::DocumentCode,
        Field::IssuingCountry,
        Field::Number,
        Field::Surname,
        Field::GivenNames,
        Field::Nationality,
        Field::BirthDate,
        Field::Sex,
        Field::IssueDate,
        Field::ExpiryDate,
        Field::Authority,
        Field::FullNameKorean,
        Field::MrzLine1,
        Field::MrzLine2,
    ];

    /// The field's name in the record: the key of `fields`, and the `field` of warnings.
    pub const fn name(self) -> &'static str {
        match self {
            Field::DocumentCode => "document_code",
            Field::IssuingCountry => "issuing_country",
            Field::Number => "number",
            Field::Surname => "surname",
            Field::GivenNames => "given_names",
            Field::Nationality => "nationality",
            Field::BirthDate => "birth_date",
            Field::Sex => "sex",
            Field::IssueDate => "issue_date",
            Field::ExpiryDate => "expiry_date",
            Field::Authority => "authority",
            Field::FullNameKorean => "full_name_korean",
            Field::MrzLine1 => "mrz.line1",
            Field::MrzLine2 => "mrz.line2",
        }
    }

    /// The field's key in CLOVA's `pp` section.
    pub const fn clova_key(self) -> &'static str {
        match self {
            Field::DocumentCode => "type",
            Field::IssuingCountry => "issueCountry",
            Field::Number => "num",
            Field::Surname => "surName",
            Field::GivenNames => "givenName",
            Field::Nationality => "nationality",
            Field::BirthDate => "birthDate",
            Field::Sex => "sex",
            Field::IssueDate => "issueDate",
            Field::ExpiryDate => "expireDate",
            Field::Authority => "authority",
            Field::FullNameKorean => "fullNameKor",
            Field::MrzLine1 => "mrz1",
            Field::MrzLine2 => "mrz2",
        }
    }

    /// The field a CLOVA `pp` key names.
    pub fn from_clova_key(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.clova_key() == key)
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys_are_unique_and_round_trip() {
        for f in Field::ALL {
            assert_eq!(Field::from_clova_key(f.clova_key()), Some(f));
            assert_eq!(
                Field::ALL.iter().filter(|g| g.name() == f.name()).count(),
                1
            );
        }
        assert_eq!(Field::from_clova_key("nope"), None);
    }
}
