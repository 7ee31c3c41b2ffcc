//! MRZ parsing, validation and repair: public specimens, tables, and properties.

use chrono::NaiveDate;
use ocr_common::mrz::{
    DateContext, MrzField, Td3Fields, Td3Record, check_digit, compose_td3, confusable, parse_td3,
};
use proptest::prelude::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 5, 1).unwrap()
}

fn ctx() -> DateContext {
    DateContext::new(today())
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// One line per fact, so a table row states everything that matters about a parse.
fn summary(r: &Td3Record) -> String {
    let f = &r.fields;
    let mut s = format!(
        "valid={} doc={} state={} surname={} given={} number={} nat={} birth={} sex={} expiry={} personal={}",
        r.is_valid(),
        f.document_code,
        f.issuing_state,
        f.surname,
        f.given_names,
        f.number,
        f.nationality,
        r.birth_date.map_or("-".into(), |d| d.to_string()),
        f.sex,
        r.expiry_date.map_or("-".into(), |d| d.to_string()),
        f.personal_number,
    );
    for d in &r.defects {
        s.push_str(&format!(" defect={}:{:?}", d.field.name(), d.kind));
    }
    for rep in &r.repairs {
        s.push_str(&format!(
            " repair={}:{}{}->{}:{:?}",
            rep.field.name(),
            rep.position,
            rep.from,
            rep.to,
            rep.reason
        ));
    }
    s
}

fn check(l1: &str, l2: &str, expected: &str) {
    let r = parse_td3(l1, l2, &ctx());
    assert_eq!(summary(&r), expected, "\n{l1}\n{l2}");
}

const UTO1: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<";
const UTO2: &str = "L898902C36UTO7408122F1204159ZE184226B<<<<<10";

/// ICAO Doc 9303 Part 4, Appendix to section 4 (TD3 specimen, Utopia).
#[test]
fn icao_specimen() {
    let r = parse_td3(UTO1, UTO2, &ctx());
    assert!(r.is_valid(), "{r:?}");
    assert_eq!(
        r.fields,
        Td3Fields {
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
        }
    );
    assert_eq!(r.birth_date, Some(date("1974-08-12")));
    // Expired: 2012, not 2112.
    assert_eq!(r.expiry_date, Some(date("2012-04-15")));
    assert_eq!(r.line1, UTO1);
    assert_eq!(r.line2, UTO2);
    assert!(r.repairs.is_empty());
    assert_eq!(check_digit("L898902C3"), Some(6));
    assert_eq!(check_digit("740812"), Some(2));
    assert_eq!(check_digit("120415"), Some(9));
    assert_eq!(check_digit("ZE184226B<<<<<"), Some(1));
}

#[test]
fn public_specimens() {
    // German passport specimen "Erika Mustermann" (BSI / Bundesdruckerei specimen, 2017 model):
    // state `D`, empty personal number with `<` check digit.
    check(
        "P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<",
        "C01X00T478D<<6408125F2702283<<<<<<<<<<<<<<<4",
        "valid=true doc=P state=D surname=MUSTERMANN given=ERIKA number=C01X00T47 nat=D birth=1964-08-12 sex=F expiry=2027-02-28 personal=",
    );
    // Netherlands passport specimen "Willeke Liselotte De Bruijn" (Rijksoverheid specimen, 2014).
    check(
        "P<NLDDE<BRUIJN<<WILLEKE<LISELOTTE<<<<<<<<<<<",
        "SPECI20142NLD6503101F2401151999999990<<<<<82",
        "valid=true doc=P state=NLD surname=DE BRUIJN given=WILLEKE LISELOTTE number=SPECI2014 nat=NLD birth=1965-03-10 sex=F expiry=2024-01-15 personal=999999990",
    );
}

#[test]
fn table() {
    let specimen = "valid=true doc=P state=UTO surname=ERIKSSON given=ANNA MARIA number=L898902C3 nat=UTO birth=1974-08-12 sex=F expiry=2012-04-15 personal=ZE184226B";
    // Spaces and lower case are cleaning, not repair.
    check(
        &UTO1.to_lowercase(),
        "L898902C36 UTO7408122F 1204159ZE184226B<<<<<10",
        specimen,
    );
    // Letter in a date: forced by the field type.
    check(
        UTO1,
        "L898902C36UTO74O8122F1204159ZE184226B<<<<<10",
        &format!("{specimen} repair=birth_date:15O->0:FieldType"),
    );
    // Letter in a check digit position.
    check(
        UTO1,
        "L898902C3GUTO7408122F1204159ZE184226B<<<<<10",
        &format!("{specimen} repair=number:9G->6:FieldType"),
    );
    // Digit in a state code and in a name.
    check(
        "P<UT0ERIKSS0N<<ANNA<MAR1A<<<<<<<<<<<<<<<<<<<",
        "L898902C36UT07408122F1204159ZE184226B<<<<<10",
        &format!(
            "{specimen} repair=issuing_country:40->O:FieldType repair=surname:110->O:FieldType repair=given_names:231->I:FieldType repair=nationality:120->O:FieldType"
        ),
    );
    // Number: `0` read as `O`; exactly one swap passes both checks.
    check(
        UTO1,
        "L8989O2C36UTO7408122F1204159ZE184226B<<<<<10",
        &format!("{specimen} repair=number:5O->0:CheckDigit"),
    );
    // Number: `8` read as `B`; two swaps pass (`B`→`8` at 4th, `8`→`B` at 2nd): ambiguous,
    // not repaired.
    check(
        UTO1,
        "L89B902C36UTO7408122F1204159ZE184226B<<<<<10",
        "valid=false doc=P state=UTO surname=ERIKSSON given=ANNA MARIA number=L89B902C3 nat=UTO birth=1974-08-12 sex=F expiry=2012-04-15 personal=ZE184226B defect=number:CheckDigitMismatch defect=composite:CheckDigitMismatch",
    );
    // Number with a non-confusable misread (`C` → `D`): detected, not repaired.
    check(
        UTO1,
        "L898902D36UTO7408122F1204159ZE184226B<<<<<10",
        "valid=false doc=P state=UTO surname=ERIKSSON given=ANNA MARIA number=L898902D3 nat=UTO birth=1974-08-12 sex=F expiry=2012-04-15 personal=ZE184226B defect=number:CheckDigitMismatch defect=composite:CheckDigitMismatch",
    );
    // Impossible date with passing check digits is still invalid.
    let (l1, l2) = compose_td3(&Td3Fields {
        document_code: "P".into(),
        issuing_state: "UTO".into(),
        surname: "ERIKSSON".into(),
        given_names: "ANNA".into(),
        number: "L898902C3".into(),
        nationality: "UTO".into(),
        birth_yymmdd: "740230".into(),
        sex: 'F',
        expiry_yymmdd: "301315".into(),
        personal_number: String::new(),
    });
    check(
        &l1,
        &l2,
        "valid=false doc=P state=UTO surname=ERIKSSON given=ANNA number=L898902C3 nat=UTO birth=- sex=F expiry=- personal= defect=birth_date:ImpossibleDate defect=expiry_date:ImpossibleDate",
    );
    // Bad sex, bad state code.
    check(
        "P<U<OERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122H1204159ZE184226B<<<<<10",
        "valid=false doc=P state=U<O surname=ERIKSSON given=ANNA MARIA number=L898902C3 nat=UTO birth=1974-08-12 sex=H expiry=2012-04-15 personal=ZE184226B defect=sex:Malformed",
    );
    // Wrong lengths: fields are not read at all.
    check(
        UTO1,
        &UTO2[..43],
        "valid=false doc=P state=UTO surname=ERIKSSON given=ANNA MARIA number= nat= birth=- sex=< expiry=- personal= defect=mrz.line2:WrongLength",
    );
    check(
        "",
        "",
        "valid=false doc= state= surname= given= number= nat= birth=- sex=< expiry=- personal= defect=mrz.line1:Missing defect=mrz.line2:Missing",
    );
    // Masked: never repaired, check digits not evaluable.
    check(
        UTO1,
        "L898902C36UT07408122F12O4159ZE184226B<<<<<1*",
        "valid=false doc=P state=UTO surname=ERIKSSON given=ANNA MARIA number=L898902C3 nat=UT0 birth=1974-08-12 sex=F expiry=- personal=ZE184226B defect=mrz.line2:Masked defect=nationality:Malformed defect=expiry_date:Malformed defect=expiry_date:CheckDigitMismatch",
    );
    // Filler look-alikes.
    check(
        "P‹UTOERIKSSON«ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        UTO2,
        specimen,
    );
}

#[test]
fn six_and_g_cannot_be_told_apart() {
    let f = Td3Fields {
        document_code: "P".into(),
        issuing_state: "UTO".into(),
        surname: "ERIKSSON".into(),
        given_names: "ANNA".into(),
        number: "L8989602C".into(),
        nationality: "UTO".into(),
        birth_yymmdd: "740812".into(),
        sex: 'F',
        expiry_yymmdd: "300415".into(),
        personal_number: String::new(),
    };
    let (l1, l2) = compose_td3(&f);
    // `6` read as `G`: values 6 and 16, same check digit. The MRZ cannot see it, so the text is
    // kept as read and no repair is claimed (the visual cross-check is what can catch it).
    let r = parse_td3(&l1, &l2.replacen("L8989602C", "L8989G02C", 1), &ctx());
    assert!(r.is_valid());
    assert_eq!(r.fields.number, "L8989G02C");
    assert!(r.repairs.is_empty());
    // `0` read as `O` in the same number: visible, unique, repaired back exactly.
    let r = parse_td3(&l1, &l2.replacen("L8989602C", "L89896O2C", 1), &ctx());
    assert!(r.is_valid());
    assert_eq!(r.line2, l2);
    // `6` and `0` both misread: the `O` is repaired (unique), the `G` stays as read, because
    // no check digit can say which of `6`/`G` it is.
    let r = parse_td3(&l1, &l2.replacen("L8989602C", "L8989GO2C", 1), &ctx());
    assert!(r.is_valid());
    assert_eq!(r.fields.number, "L8989G02C");
    assert_eq!(r.repairs.len(), 1);
}

// ---------------------------------------------------------------- properties

fn word() -> impl Strategy<Value = String> {
    "[A-Z]{1,8}"
}

fn name(max_words: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 0..=max_words).prop_map(|w| w.join(" "))
}

fn day_in(from: NaiveDate, to: NaiveDate) -> impl Strategy<Value = NaiveDate> {
    let span = (to - from).num_days();
    (0..=span).prop_map(move |d| from + chrono::Duration::days(d))
}

prop_compose! {
    fn passport()(
        doc in prop_oneof![Just("P".to_string()), "P[A-Z]"],
        state in "[A-Z]{3}",
        nat in "[A-Z]{3}",
        surname in name(3).prop_filter("surname", |s| !s.is_empty()),
        given in name(3),
        number in "[A-Z0-9]{1,9}",
        birth in day_in(date("1927-01-01"), date("2026-04-30")),
        sex in prop_oneof![Just('M'), Just('F'), Just('<')],
        expiry in day_in(date("1980-01-01"), date("2036-04-30")),
        personal in "[A-Z0-9]{0,14}",
    ) -> (Td3Fields, NaiveDate, NaiveDate) {
        (Td3Fields {
            document_code: doc,
            issuing_state: state,
            surname,
            given_names: given,
            number,
            nationality: nat,
            birth_yymmdd: birth.format("%y%m%d").to_string(),
            sex,
            expiry_yymmdd: expiry.format("%y%m%d").to_string(),
            personal_number: personal,
        }, birth, expiry)
    }
}

fn fits(f: &Td3Fields) -> bool {
    f.surname.len() + 2 + f.given_names.len() <= 39
}

/// Positions of line 2 covered by a check digit, the check digits included.
fn covered() -> Vec<usize> {
    (0..10).chain(13..20).chain(21..44).collect()
}

const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<";

fn value(c: char) -> u32 {
    ocr_common::mrz::char_value(c).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn compose_then_parse_round_trips((f, birth, expiry) in passport().prop_filter("fits", |p| fits(&p.0))) {
        let (l1, l2) = compose_td3(&f);
        let r = parse_td3(&l1, &l2, &ctx());
        prop_assert!(r.is_valid(), "{}", summary(&r));
        prop_assert!(r.repairs.is_empty());
        prop_assert_eq!(&r.fields, &f);
        prop_assert_eq!(r.birth_date, Some(birth));
        prop_assert_eq!(r.expiry_date, Some(expiry));
        prop_assert_eq!((r.line1.as_str(), r.line2.as_str()), (l1.as_str(), l2.as_str()));
    }

    #[test]
    fn single_corruption_is_never_silently_accepted(
        (f, _, _) in passport().prop_filter("fits", |p| fits(&p.0)),
        pos in prop::sample::select(covered()),
        with in prop::sample::select(ALPHABET.chars().collect::<Vec<_>>()),
    ) {
        let (l1, l2) = compose_td3(&f);
        let mut chars: Vec<char> = l2.chars().collect();
        let orig = chars[pos];
        prop_assume!(value(with) % 10 != value(orig) % 10);
        chars[pos] = with;
        let corrupted: String = chars.into_iter().collect();
        let r = parse_td3(&l1, &corrupted, &ctx());
        // Detected (invalid) or repaired with a record of the repair; never valid as if clean.
        prop_assert!(!r.is_valid() || !r.repairs.is_empty(), "{}", summary(&r));
        // A repair of an OCR confusion is the right one.
        if confusable(orig) == Some(with) && r.is_valid() {
            prop_assert_eq!(&r.line2, &l2);
        }
        // Repairs only ever touch the corrupted position, or are check-digit repairs.
        for rep in &r.repairs {
            prop_assert!(rep.position == pos || rep.reason == ocr_common::mrz::RepairReason::CheckDigit);
        }
    }

    #[test]
    fn confusion_swaps_in_digit_fields_are_always_repaired(
        (f, _, _) in passport().prop_filter("fits", |p| fits(&p.0)),
        pos in prop::sample::select((13..20).chain(21..28).chain([9, 43]).collect::<Vec<_>>()),
    ) {
        let (l1, l2) = compose_td3(&f);
        let mut chars: Vec<char> = l2.chars().collect();
        let Some(letter) = confusable(chars[pos]) else { return Ok(()); };
        chars[pos] = letter;
        let r = parse_td3(&l1, &chars.into_iter().collect::<String>(), &ctx());
        prop_assert!(r.is_valid());
        prop_assert_eq!(&r.line2, &l2);
        prop_assert_eq!(r.repairs.len(), 1);
        prop_assert!(r.repairs[0].field != MrzField::Line2);
    }

    #[test]
    fn parse_never_panics(a in ".{0,60}", b in ".{0,60}") {
        let _ = parse_td3(&a, &b, &ctx());
    }

    #[test]
    fn parse_never_panics_on_mrz_like_text(a in "[A-Z0-9<*O ]{40,48}", b in "[A-Z0-9<*O ]{40,48}") {
        let r = parse_td3(&a, &b, &ctx());
        prop_assert!(!r.is_valid() || (r.line1.len() == 44 && r.line2.len() == 44));
    }
}
