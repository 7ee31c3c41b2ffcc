//! MRZ parsing, validation and repair: public specimens, tables, and properties.

mod oracle;

use chrono::NaiveDate;
use ocr_common::mrz::{
    DateContext, MrzField, RepairReason, Td3Fields, Td3Record, check_digit, compose_td3,
    confusable, parse_td3,
};
use oracle::{oracle_partner, oracle_valid, same_document};
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
    for (i, alt) in r.suggestions.iter().enumerate() {
        for rep in &alt.swaps {
            s.push_str(&format!(
                " suggest{i}={}:{}{}->{}",
                rep.field.name(),
                rep.position,
                rep.from,
                rep.to
            ));
        }
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
    // Number: `0` read as `O`; exactly one swap passes every check. Issue 11 flips this verdict:
    // it was valid with a `CheckDigit` repair; now it is invalid with that swap as a suggestion,
    // since a check digit cannot tell this from a random misread elsewhere.
    check(
        UTO1,
        "L8989O2C36UTO7408122F1204159ZE184226B<<<<<10",
        "valid=false doc=P state=UTO surname=ERIKSSON given=ANNA MARIA number=L8989O2C3 nat=UTO birth=1974-08-12 sex=F expiry=2012-04-15 personal=ZE184226B defect=number:CheckDigitMismatch defect=composite:CheckDigitMismatch suggest0=number:5O->0",
    );
    // Number: `8` read as `B`; two swaps pass every check (`B`→`8` at 4th, `8`→`B` at 2nd:
    // the composite weighs the number exactly as its own check does, so it cannot choose).
    // Two alternatives, neither offered alone; only the visual zone can pick one.
    check(
        UTO1,
        "L89B902C36UTO7408122F1204159ZE184226B<<<<<10",
        "valid=false doc=P state=UTO surname=ERIKSSON given=ANNA MARIA number=L89B902C3 nat=UTO birth=1974-08-12 sex=F expiry=2012-04-15 personal=ZE184226B defect=number:CheckDigitMismatch defect=composite:CheckDigitMismatch suggest0=number:18->B suggest1=number:3B->8",
    );
    let r = parse_td3(UTO1, "L89B902C36UTO7408122F1204159ZE184226B<<<<<10", &ctx());
    assert_eq!(r.suggestions.len(), 2);
    assert!(r.suggestion().is_none());
    // Personal number: `1` read as `I`. Swapping it back passes every check, and so does
    // swapping the unrelated `2` at 34 to `Z` (the 1-in-10 collision of issue 11; the composite
    // weighs the personal number as its own check does). Line kept as read; both alternatives
    // recorded, neither offered.
    let r = parse_td3(
        UTO1,
        "L898902C36UTO7408122F1204159ZE I84226B<<<<<10",
        &ctx(),
    );
    assert!(!r.is_valid());
    assert_eq!(r.line2, "L898902C36UTO7408122F1204159ZEI84226B<<<<<10");
    assert!(r.suggestion().is_none(), "{}", summary(&r));
    let lines: Vec<String> = r.suggestions.iter().map(|s| s.apply(&r.line2)).collect();
    assert!(lines.contains(&UTO2.to_string()));
    assert!(lines.contains(&"L898902C36UTO7408122F1204159ZEI84Z26B<<<<<10".to_string()));
    for s in &r.suggestions {
        assert_eq!(s.swaps[0].reason, RepairReason::CheckDigitSuggestion);
    }
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
    // `0` read as `O` in the same number: visible and unique, but chosen by a check digit only.
    // Issue 11 flips this verdict (was valid, repaired): invalid, one suggestion that restores
    // the line exactly, not applied.
    let r = parse_td3(&l1, &l2.replacen("L8989602C", "L89896O2C", 1), &ctx());
    assert!(!r.is_valid());
    assert!(r.repairs.is_empty());
    assert_eq!(r.suggestion().map(|s| s.apply(&r.line2)), Some(l2.clone()));
    // `6` and `0` both misread: the `O` swap is the one suggestion (was: applied, valid); the
    // `G` stays as read, because no check digit can say which of `6`/`G` it is.
    let r = parse_td3(&l1, &l2.replacen("L8989602C", "L8989GO2C", 1), &ctx());
    assert!(!r.is_valid());
    let s = r.suggestion().expect("one suggestion");
    assert_eq!(s.number(&r.line2), "L8989G02C");
    assert_eq!(s.swaps.len(), 1);
}

/// Korean passport numbers (issuing state `KOR`): a letter first, digits at 2-4 and 6-9 in both
/// the older (`M12345678`) and the next-generation (`M123A4567`) format; the fifth place open.
#[test]
fn korean_issuer_format() {
    let fields = |number: &str| Td3Fields {
        document_code: "PM".into(),
        issuing_state: "KOR".into(),
        surname: "HONG".into(),
        given_names: "GILDONG".into(),
        number: number.into(),
        nationality: "KOR".into(),
        birth_yymmdd: "870201".into(),
        sex: 'F',
        expiry_yymmdd: "300815".into(),
        personal_number: String::new(),
    };
    let read = |f: &Td3Fields, number: &str| {
        let (l1, l2) = compose_td3(f);
        let r = parse_td3(&l1, &l2.replacen(&f.number, number, 1), &ctx());
        (r, l2)
    };
    // A letter at a digits-only place, new format: forced, verified by the check digit.
    let f = fields("M123A4567");
    let (r, l2) = read(&f, "M1Z3A4567");
    assert!(r.is_valid(), "{}", summary(&r));
    assert_eq!(r.line2, l2);
    assert_eq!(r.repairs[0].reason, RepairReason::IssuerFormat);
    // A digit in the first place (old format): forced to the letter.
    let f = fields("S12345678");
    let (r, l2) = read(&f, "512345678");
    assert!(r.is_valid(), "{}", summary(&r));
    assert_eq!(r.line2, l2);
    // `6` read as `G` in a digits-only place: invisible to the check digit, still forced.
    let f = fields("M12374566");
    let (r, l2) = read(&f, "M1237456G");
    assert!(r.is_valid());
    assert_eq!(r.line2, l2);
    // The fifth place is open: a confusion there is only a suggestion.
    let f = fields("M123S4567");
    let (r, l2) = read(&f, "M12354567");
    assert!(!r.is_valid());
    assert_eq!(r.suggestion().map(|s| s.apply(&r.line2)), Some(l2));
    // A letter at a fixed place while the open place holds a confusable character whose swap
    // moves the check digit: a random misread plus a confusion there could pass together, so
    // nothing is forced; the format still narrows the suggestion to the fixed place.
    let f = fields("M12354567");
    let (r, l2) = read(&f, "M1Z354567");
    assert!(!r.is_valid(), "{}", summary(&r));
    assert!(r.repairs.is_empty());
    assert_eq!(r.suggestion().map(|s| s.apply(&r.line2)), Some(l2));
    // Not Korean: the same number is not forced.
    let mut f = fields("M123A4567");
    f.issuing_state = "UTO".into();
    let (r, _) = read(&f, "M1Z3A4567");
    assert!(!r.is_valid());
    assert!(r.repairs.is_empty());
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
        // Applied repairs are forced ones and only ever touch the corrupted position (before
        // issue 11, check-digit repairs elsewhere were allowed here).
        for rep in &r.repairs {
            prop_assert_eq!(rep.position, pos);
            prop_assert!(rep.reason.is_applied());
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

// ------------------------------------------------------------- false valid (issue 11)

prop_compose! {
    /// Korean passports: `KOR`, numbers `M` + 8 digits (older, also `S`/`R`/`G`/`D`) or
    /// `M` + 3 digits + letter + 4 digits (next-generation).
    fn korean_passport()(
        (mut f, _, _) in passport(),
        number in prop_oneof!["[MSRGD][0-9]{8}", "M[0-9]{3}[A-Z][0-9]{4}"],
    ) -> Td3Fields {
        f.document_code = "PM".into();
        f.issuing_state = "KOR".into();
        f.nationality = "KOR".into();
        f.number = number;
        f
    }
}

fn any_passport() -> impl Strategy<Value = Td3Fields> {
    prop_oneof![passport().prop_map(|p| p.0), korean_passport()].prop_filter("fits", fits)
}

/// Positions of both lines holding a character with a confusion partner, except `avoid`.
fn confusable_spots(l1: &[u8], l2: &[u8], avoid: (usize, usize)) -> Vec<(usize, usize)> {
    let one = l1.iter().enumerate().map(|(p, b)| (1, p, *b));
    let two = l2.iter().enumerate().map(|(p, b)| (2, p, *b));
    one.chain(two)
        .filter(|&(l, p, b)| oracle_partner(b).is_some() && (l, p) != avoid)
        .map(|(l, p, _)| (l, p))
        .collect()
}

/// Apply a random substitution at line-2 position `pos` (one the check digits can see) and the
/// confusion at `spot`, parse, and fail if the worker calls valid a line that differs from the truth while the line as read
/// fails the independent oracle (a false valid).
fn no_false_valid(
    f: &Td3Fields,
    pos: usize,
    with: char,
    spot: (usize, usize),
) -> Result<(), TestCaseError> {
    let (l1, l2) = compose_td3(f);
    let (mut r1, mut r2) = (l1.clone().into_bytes(), l2.clone().into_bytes());
    let orig = r2[pos];
    let with = with as u8;
    prop_assume!(with != orig && oracle_partner(orig) != Some(with));
    // A substitution between values equal mod 10 is invisible to every check digit: a line
    // holding only that error passes as read and counts as valid (issue 11, "Terms").
    prop_assume!(value(with as char) % 10 != value(orig as char) % 10);
    r2[pos] = with;
    let line = if spot.0 == 1 { &mut r1 } else { &mut r2 };
    line[spot.1] = oracle_partner(line[spot.1]).unwrap();
    let (a, b) = (
        String::from_utf8(r1).unwrap(),
        String::from_utf8(r2).unwrap(),
    );
    let r = parse_td3(&a, &b, &ctx());
    let same = r.line1 == l1 && same_document(r.line2.as_bytes(), l2.as_bytes());
    prop_assert!(
        !r.is_valid() || same || oracle_valid(a.as_bytes(), b.as_bytes()),
        "false valid\ntruth {l1} / {l2}\nread  {a} / {b}\n{}",
        summary(&r)
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Issue 11: any non-confusion substitution at a check-digit-covered position, combined with
    /// a confusion at any other position of either line, is never a false valid.
    #[test]
    fn random_error_plus_confusion_is_never_a_false_valid(
        f in any_passport(),
        pos in prop::sample::select(covered()),
        with in prop::sample::select(ALPHABET.chars().collect::<Vec<_>>()),
        pick in any::<prop::sample::Index>(),
    ) {
        let (l1, l2) = compose_td3(&f);
        let spots = confusable_spots(l1.as_bytes(), l2.as_bytes(), (2, pos));
        prop_assume!(!spots.is_empty());
        no_false_valid(&f, pos, with, *pick.get(&spots))?;
    }

    /// The same, with both errors in one alphanumeric field (document number or personal
    /// number), where a single check digit has to judge both: rule 2's old failure.
    #[test]
    fn random_error_plus_confusion_in_one_field_is_never_a_false_valid(
        f in any_passport(),
        field in prop::sample::select(vec![0..9, 28..42]),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
        with in prop::sample::select(ALPHABET.chars().collect::<Vec<_>>()),
    ) {
        let (_, l2) = compose_td3(&f);
        let positions: Vec<usize> = field.clone().collect();
        let pos = *a.get(&positions);
        let spots: Vec<(usize, usize)> = field
            .filter(|&p| p != pos && oracle_partner(l2.as_bytes()[p]).is_some())
            .map(|p| (2, p))
            .collect();
        prop_assume!(!spots.is_empty());
        no_false_valid(&f, pos, with, *b.get(&spots))?;
    }

    /// Korean numbers: a random letter at a position both formats fix as a digit, plus a
    /// confusion at the open fifth position that happens to compensate, is never a false valid.
    #[test]
    fn korean_forced_position_with_open_confusion_is_never_a_false_valid(
        mut f in korean_passport().prop_filter("fits", fits),
        number in "[MSRGD][0-9]{3}[01258OIBSZ][0-9]{4}",
        pos in prop::sample::select(vec![1usize, 2, 3, 5, 6, 7, 8]),
        with in prop::sample::select("OIBSZG".chars().collect::<Vec<_>>()),
    ) {
        f.number = number;
        no_false_valid(&f, pos, with, (2, 4))?;
    }
}
