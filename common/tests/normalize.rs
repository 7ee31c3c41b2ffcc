//! Normalization rules, table-driven: `check(pp_json, expectations)`.
//!
//! Inputs are `pp` sections written as JSON (read through the same lenient reader as the
//! service's answers). Expectations are JSON pointers into the serialized `Normalized` record,
//! plus `warn`/`nowarn` entries of the form `code@field` (or `code` for no field).

use chrono::NaiveDate;
use ocr_common::clova::{PassportFields, parse_response};
use ocr_common::mrz::{Td3Fields, compose_td3};
use ocr_common::normalize::{FIELD_NAMES, Normalized, normalize};
use serde_json::{Value, json};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 5, 1).unwrap()
}

fn run(pp: Value, confident: Option<bool>) -> Normalized {
    let pp: PassportFields = serde_json::from_value(pp).unwrap();
    normalize(&pp, confident, today())
}

fn warning_keys(n: &Normalized) -> Vec<String> {
    n.warnings
        .iter()
        .map(|w| match &w.field {
            Some(f) => format!("{}@{f}", w.code),
            None => w.code.clone(),
        })
        .collect()
}

fn check(pp: Value, expect: &[(&str, Value)]) {
    let n = run(pp.clone(), None);
    let v = serde_json::to_value(&n).unwrap();
    let warnings = warning_keys(&n);
    for (key, want) in expect {
        match *key {
            "warn" => assert!(
                warnings.iter().any(|w| Some(w.as_str()) == want.as_str()),
                "missing warning {want} in {warnings:?} for {pp}"
            ),
            "nowarn" => assert!(
                !warnings.iter().any(|w| Some(w.as_str()) == want.as_str()),
                "unexpected warning {want} in {warnings:?} for {pp}"
            ),
            pointer => assert_eq!(
                v.pointer(pointer),
                Some(want),
                "{pointer} for {pp}\n{}",
                serde_json::to_string_pretty(&v).unwrap()
            ),
        }
    }
}

fn t(text: &str) -> Value {
    json!([{ "text": text }])
}

fn specimen_fields() -> Td3Fields {
    Td3Fields {
        document_code: "PM".into(),
        issuing_state: "KOR".into(),
        surname: "HONG".into(),
        given_names: "GILDONG".into(),
        number: "M12345678".into(),
        nationality: "KOR".into(),
        birth_yymmdd: "870201".into(),
        sex: 'F',
        expiry_yymmdd: "300815".into(),
        personal_number: String::new(),
    }
}

/// A consistent Korean-style passport: visual zone and a valid MRZ.
fn consistent() -> Value {
    let (l1, l2) = compose_td3(&specimen_fields());
    json!({
        "type": t("PM"),
        "issueCountry": t("KOR"),
        "num": t("M12345678"),
        "surName": t("HONG"),
        "givenName": t("GILDONG"),
        "nationality": t("REPUBLIC OF KOREA"),
        "birthDate": [{"text": "01 2월/FEB 1987", "formatted": {"year": "1987", "month": "02", "day": "01"}}],
        "sex": [{"text": "F んだ", "formatted": {"value": "F"}}],
        "issueDate": t("15 8월/AUG 2020"),
        "expireDate": t("15 8월/AUG 2030"),
        "authority": t("MINISTRY OF  FOREIGN AFFAIRS"),
        "fullNameKor": t("홍길동"),
        "mrz1": t(&l1),
        "mrz2": t(&l2),
    })
}

fn with(mut base: Value, key: &str, v: Value) -> Value {
    base[key] = v;
    base
}

#[test]
fn consistent_passport() {
    let n = run(consistent(), Some(true));
    let v = serde_json::to_value(&n).unwrap();
    assert_eq!(
        v["passport"],
        json!({
            "document_code": "PM", "issuing_country": "KOR", "number": "M12345678",
            "surname": "HONG", "given_names": "GILDONG", "nationality": "KOR",
            "birth_date": "1987-02-01", "sex": "F", "issue_date": "2020-08-15",
            "expiry_date": "2030-08-15", "authority": "MINISTRY OF FOREIGN AFFAIRS",
            "full_name_korean": "홍길동",
            "mrz": {"line1": "PMKORHONG<<GILDONG<<<<<<<<<<<<<<<<<<<<<<<<<<", "line2": compose_td3(&specimen_fields()).1}
        })
    );
    assert_eq!(
        v["checks"],
        json!({
            "mrz_present": true, "mrz_valid": true, "mrz_valid_after_suggested_repair": true,
            "check_digits": {"document_number": true, "birth_date": true, "expiry_date": true, "personal_number": true, "composite": true},
            "mrz_matches_visual": true, "mismatches": [], "expired": false,
            "is_confident": true, "min_field_confidence": null
        })
    );
    assert_eq!(n.warnings, vec![], "{:?}", n.warnings);
    assert_eq!(v["repairs"], json!([]));
    let keys: Vec<&str> = n.fields.keys().map(String::as_str).collect();
    let mut names = FIELD_NAMES.to_vec();
    names.sort_unstable();
    assert_eq!(keys, names);
    assert_eq!(n.fields["sex"].raw.as_deref(), Some("F んだ"));
    // Round trip of the record itself.
    let back: Normalized = serde_json::from_value(v).unwrap();
    assert_eq!(back, n);
}

#[test]
fn dates() {
    let b = "/passport/birth_date";
    for (cand, want, warn) in [
        (
            json!([{"text": "August 15, 2020"}]),
            json!("2020-08-15"),
            None,
        ),
        (json!([{"text": "15 AUG 2020"}]), json!("2020-08-15"), None),
        (
            json!([{"text": "15 8월/AUG 2020"}]),
            json!("2020-08-15"),
            None,
        ),
        (json!([{"text": "2020.08.15"}]), json!("2020-08-15"), None),
        (json!([{"text": "20200815"}]), json!("2020-08-15"), None),
        (
            json!([{"text": "x", "formatted": {"year": "2020", "month": "8", "day": "15"}}]),
            json!("2020-08-15"),
            None,
        ),
        (
            json!([{"text": "15 AUG 2020", "formatted": {"year": 2020, "month": 8, "day": 15}}]),
            json!("2020-08-15"),
            None,
        ),
        // Impossible dates are rejected, never invented.
        (
            json!([{"text": "30 FEB 2020"}]),
            Value::Null,
            Some("date_invalid@birth_date"),
        ),
        (
            json!([{"formatted": {"year": "2020", "month": "02", "day": "30"}}]),
            Value::Null,
            Some("date_invalid@birth_date"),
        ),
        (
            json!([{"text": "2021.02.29"}]),
            Value::Null,
            Some("date_invalid@birth_date"),
        ),
        (
            json!([{"text": "someday"}]),
            Value::Null,
            Some("date_unparsed@birth_date"),
        ),
        // The formatted date wins; the disagreement is reported.
        (
            json!([{"text": "16 AUG 2020", "formatted": {"year": "2020", "month": "08", "day": "15"}}]),
            json!("2020-08-15"),
            Some("date_sources_disagree@birth_date"),
        ),
        // Masked.
        (
            json!([{"text": "15 AUG ****"}]),
            Value::Null,
            Some("field_masked@birth_date"),
        ),
        (json!([]), Value::Null, Some("field_missing@birth_date")),
        // Future birth date.
        (
            json!([{"text": "1 JAN 2030"}]),
            json!("2030-01-01"),
            Some("date_implausible@birth_date"),
        ),
    ] {
        let mut e = vec![(b, want)];
        if let Some(w) = warn {
            e.push(("warn", json!(w)));
        }
        check(json!({ "birthDate": cand }), &e);
    }
    check(
        json!({"birthDate": [{"text": "15 AUG ****"}]}),
        &[
            ("/fields/birth_date/masked", json!(true)),
            ("/fields/birth_date/value", json!("15 AUG ****")),
        ],
    );
}

#[test]
fn sex() {
    for (text, want) in [
        ("F んだ", json!("F")),
        ("여", json!("F")),
        ("남/M", json!("M")),
        ("MALE", json!("M")),
        ("female", json!("F")),
        ("X", json!("X")),
        ("M/F", Value::Null),
        ("?", Value::Null),
    ] {
        let mut e = vec![("/passport/sex", want.clone())];
        if want.is_null() {
            e.push(("warn", json!("sex_unparsed@sex")));
        }
        check(json!({ "sex": t(text) }), &e);
    }
}

#[test]
fn names_numbers_codes() {
    for (key, text, pointer, want, warn) in [
        (
            "surName",
            "  hong ",
            "/passport/surname",
            json!("HONG"),
            None,
        ),
        (
            "givenName",
            "gil   dong",
            "/passport/given_names",
            json!("GIL DONG"),
            None,
        ),
        (
            "givenName",
            "jean-pierre",
            "/passport/given_names",
            json!("JEAN-PIERRE"),
            None,
        ),
        (
            "surName",
            "HONG 홍",
            "/passport/surname",
            json!("HONG"),
            Some("text_cleaned@surname"),
        ),
        (
            "num",
            "M12 345.678",
            "/passport/number",
            json!("M12345678"),
            None,
        ),
        (
            "num",
            " m123-45678 ",
            "/passport/number",
            json!("M12345678"),
            None,
        ),
        (
            "nationality",
            "REPUBLIC OF KOREA",
            "/passport/nationality",
            json!("KOR"),
            None,
        ),
        (
            "nationality",
            "대한민국",
            "/passport/nationality",
            json!("KOR"),
            None,
        ),
        (
            "nationality",
            "UTOPIA",
            "/passport/nationality",
            json!("UTOPIA"),
            Some("country_unknown@nationality"),
        ),
        (
            "issueCountry",
            "K O R",
            "/passport/issuing_country",
            json!("KOR"),
            None,
        ),
        (
            "issueCountry",
            "United States of America",
            "/passport/issuing_country",
            json!("USA"),
            None,
        ),
        ("type", "P M", "/passport/document_code", json!("PM"), None),
        (
            "type",
            "ID",
            "/passport/document_code",
            json!("ID"),
            Some("document_code_unusual@document_code"),
        ),
        (
            "fullNameKor",
            " 홍길동 ",
            "/passport/full_name_korean",
            json!("홍길동"),
            None,
        ),
        (
            "authority",
            "MINISTRY  OF FOREIGN\nAFFAIRS",
            "/passport/authority",
            json!("MINISTRY OF FOREIGN AFFAIRS"),
            None,
        ),
    ] {
        let mut e = vec![(pointer, want)];
        if let Some(w) = warn {
            e.push(("warn", json!(w)));
        }
        check(json!({ key: t(text) }), &e);
    }
}

#[test]
fn best_candidate_is_chosen() {
    // A candidate that parses beats a more confident one that does not.
    check(
        json!({"birthDate": [
            {"text": "garbage", "confidenceScore": 0.99},
            {"text": "15 AUG 2020", "confidenceScore": 0.1, "boundingPolys": [{"vertices": [{"x": 1, "y": 2}, {"x": 5, "y": 9}]}]}
        ]}),
        &[
            ("/passport/birth_date", json!("2020-08-15")),
            ("/fields/birth_date/raw", json!("15 AUG 2020")),
            ("/fields/birth_date/confidence", json!(0.1)),
            ("/fields/birth_date/candidates", json!(2)),
            (
                "/fields/birth_date/bounding_box",
                json!({"x_min": 1.0, "y_min": 2.0, "x_max": 5.0, "y_max": 9.0}),
            ),
        ],
    );
    // Among readable ones, the most confident; on a tie, the first.
    check(
        json!({"surName": [{"text": "KIM", "confidenceScore": 0.5}, {"text": "LEE", "confidenceScore": 0.9}]}),
        &[
            ("/passport/surname", json!("LEE")),
            ("/checks/min_field_confidence", json!(0.9)),
        ],
    );
    check(
        json!({"surName": [{"text": "KIM"}, {"text": "LEE"}]}),
        &[("/passport/surname", json!("KIM"))],
    );
    // formatted.value is read before text; text is the fallback.
    check(
        json!({"sex": [{"text": "F んだ", "formatted": {"value": ""}}]}),
        &[("/passport/sex", json!("F"))],
    );
}

#[test]
fn masked_values_pass_through_flagged_and_are_never_mismatches() {
    let pp = with(consistent(), "num", t("M123A****"));
    let pp = with(pp, "givenName", t("GIL****"));
    check(
        pp,
        &[
            ("/passport/number", json!("M123A****")),
            ("/fields/number/masked", json!(true)),
            ("/fields/number/source", json!("visual")),
            ("/passport/given_names", json!("GIL****")),
            ("warn", json!("field_masked@number")),
            ("warn", json!("field_masked@given_names")),
            ("/checks/mismatches", json!([])),
            ("/checks/mrz_matches_visual", json!(true)),
            ("/checks/mrz_valid", json!(true)),
        ],
    );
}

#[test]
fn mrz_versus_visual() {
    // Each disagreement is reported by field name; check-digit fields take the MRZ value.
    let pp = with(consistent(), "num", t("M12345679"));
    let pp = with(pp, "surName", t("HANG"));
    let pp = with(pp, "sex", t("M"));
    let pp = with(pp, "nationality", t("JAPAN"));
    let pp = with(pp, "birthDate", t("02 FEB 1987"));
    check(
        pp,
        &[
            (
                "/checks/mismatches",
                json!(["number", "birth_date", "sex", "surname", "nationality"]),
            ),
            ("/checks/mrz_matches_visual", json!(false)),
            ("warn", json!("mrz_mismatch@number")),
            ("warn", json!("mrz_mismatch@nationality")),
            ("/passport/number", json!("M12345678")),
            ("/fields/number/raw", json!("M12345679")),
            ("/fields/number/source", json!("mrz")),
            ("/passport/birth_date", json!("1987-02-01")),
            ("/passport/surname", json!("HANG")),
            ("/passport/nationality", json!("JPN")),
        ],
    );
    // Missing visual values are filled from the valid MRZ, flagged.
    let mut pp = consistent();
    for k in [
        "num",
        "surName",
        "givenName",
        "sex",
        "nationality",
        "birthDate",
        "expireDate",
        "type",
    ] {
        pp[k] = json!([]);
    }
    check(
        pp,
        &[
            ("/passport/number", json!("M12345678")),
            ("/passport/given_names", json!("GILDONG")),
            ("/passport/sex", json!("F")),
            ("/passport/nationality", json!("KOR")),
            ("/passport/birth_date", json!("1987-02-01")),
            ("/passport/expiry_date", json!("2030-08-15")),
            ("/passport/document_code", json!("PM")),
            ("warn", json!("value_from_mrz@number")),
            ("warn", json!("field_missing@number")),
            ("/checks/mrz_matches_visual", json!(true)),
        ],
    );
}

#[test]
fn mrz_reading_and_repair() {
    let (l1, l2) = compose_td3(&specimen_fields());
    // `0` in the birth date read as `O`: repaired by field type, raw kept.
    assert_eq!(&l2[15..16], "0");
    let bad2 = format!("{}O{}", &l2[..15], &l2[16..]);
    assert_eq!(bad2.len(), 44);
    check(
        with(consistent(), "mrz2", t(&bad2)),
        &[
            ("/checks/mrz_valid", json!(true)),
            ("warn", json!("mrz_repaired@birth_date")),
            ("/passport/mrz/line2", json!(l2)),
            ("/fields/mrz.line2/raw", json!(bad2)),
            ("/fields/mrz.line2/value", json!(l2)),
        ],
    );
    // formatted.value first, text as the fallback: here formatted is short, text is right.
    check(
        with(
            consistent(),
            "mrz1",
            json!([{"text": l1, "formatted": {"value": &l1[..40]}}]),
        ),
        &[
            ("/checks/mrz_valid", json!(true)),
            ("/passport/mrz/line1", json!(l1)),
        ],
    );
    // A failing check digit: invalid, reported, values stay visual.
    let bad_cd = format!("{}0{}", &l2[..19], &l2[20..]);
    check(
        with(consistent(), "mrz2", t(&bad_cd)),
        &[
            ("/checks/mrz_valid", json!(false)),
            ("/checks/check_digits/birth_date", json!(false)),
            ("/checks/check_digits/document_number", json!(true)),
            ("warn", json!("mrz_check_digit_failed@birth_date")),
            ("warn", json!("mrz_invalid")),
            ("/fields/birth_date/source", json!("visual")),
        ],
    );
    // No MRZ at all.
    let mut pp = consistent();
    pp["mrz1"] = json!([]);
    pp["mrz2"] = json!([]);
    check(
        pp,
        &[
            ("/checks/mrz_present", json!(false)),
            ("/checks/mrz_valid", json!(false)),
            ("/passport/mrz", Value::Null),
            ("/checks/mrz_matches_visual", Value::Null),
            ("warn", json!("mrz_missing")),
        ],
    );
    // One line only.
    check(
        with(consistent(), "mrz2", json!([])),
        &[
            ("/passport/mrz", Value::Null),
            ("warn", json!("mrz_missing@mrz.line2")),
            ("/checks/mrz_present", json!(true)),
        ],
    );
}

/// Issue 11: a repair chosen by a check digit is a suggestion; only the visual zone's unmasked
/// number confirms (or rejects) it, and `mrz_valid` never becomes true through it.
#[test]
fn mrz_suggestions_are_graded_by_the_visual_zone() {
    // A next-generation Korean number, its fifth-place `S` read as `5`: no format fixes that
    // place, so only the check digit chooses the swap back.
    let mut f = specimen_fields();
    f.number = "M123S4567".into();
    let (_, l2) = compose_td3(&f);
    let read2 = l2.replacen("M123S4567", "M12354567", 1);
    let suggestion = json!({"field": "number", "line": 2, "index": 4, "from": "5", "to": "S"});
    let with_reason = |reason: &str| {
        let mut r = suggestion.clone();
        r["reason"] = json!(reason);
        json!([r])
    };
    let pp = with(consistent(), "mrz2", t(&read2));
    let pp = with(pp, "num", t("M123S4567"));
    // The visual number agrees with the suggestion: confirmed and applied, still not valid.
    check(
        pp.clone(),
        &[
            ("/checks/mrz_valid", json!(false)),
            ("/checks/mrz_valid_after_suggested_repair", json!(true)),
            ("/repairs", with_reason("confirmed_by_visual_zone")),
            ("/passport/mrz/line2", json!(l2)),
            ("/fields/mrz.line2/value", json!(l2)),
            ("/fields/mrz.line2/raw", json!(read2)),
            ("/passport/number", json!("M123S4567")),
            ("/fields/number/source", json!("visual")),
            ("warn", json!("mrz_repaired@number")),
            ("warn", json!("mrz_invalid")),
            ("warn", json!("mrz_check_digit_failed@number")),
        ],
    );
    // Masked or absent visual number: offered, not applied.
    for num in [t("M123S****"), json!([])] {
        check(
            with(pp.clone(), "num", num),
            &[
                ("/checks/mrz_valid", json!(false)),
                ("/checks/mrz_valid_after_suggested_repair", json!(true)),
                ("/repairs", with_reason("check_digit_suggestion")),
                ("/passport/mrz/line2", json!(read2)),
                ("warn", json!("mrz_repair_suggested@number")),
                ("nowarn", json!("mrz_repaired@number")),
            ],
        );
    }
    // The visual number disagrees: rejected, not applied.
    check(
        with(pp, "num", t("M123S4568")),
        &[
            ("/checks/mrz_valid", json!(false)),
            ("/checks/mrz_valid_after_suggested_repair", json!(false)),
            ("/repairs", with_reason("rejected_by_visual_zone")),
            ("/passport/mrz/line2", json!(read2)),
            ("/passport/number", json!("M123S4568")),
            ("warn", json!("mrz_repair_rejected@number")),
        ],
    );

    // Two alternatives (ICAO specimen number, `8` read as `B`): the check digits cannot choose,
    // nothing is offered; the visual number picks the one it agrees with.
    let uto1 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<";
    let uto2 = "L898902C36UTO7408122F1204159ZE184226B<<<<<10";
    let read2 = uto2.replacen("L898902C3", "L89B902C3", 1);
    let pp = json!({"mrz1": t(uto1), "mrz2": t(&read2)});
    check(
        pp.clone(),
        &[
            ("/checks/mrz_valid_after_suggested_repair", json!(false)),
            ("/repairs", json!([])),
            ("/passport/mrz/line2", json!(read2)),
        ],
    );
    check(
        with(pp, "num", t("L898902C3")),
        &[
            ("/checks/mrz_valid", json!(false)),
            ("/checks/mrz_valid_after_suggested_repair", json!(true)),
            ("/repairs/0/reason", json!("confirmed_by_visual_zone")),
            ("/repairs/0/index", json!(3)),
            ("/passport/mrz/line2", json!(uto2)),
        ],
    );

    // A letter at a place both Korean formats fix as a digit: forced, valid.
    let (_, l2) = compose_td3(&specimen_fields());
    let read2 = l2.replacen("M12345678", "M1Z345678", 1);
    check(
        with(consistent(), "mrz2", t(&read2)),
        &[
            ("/checks/mrz_valid", json!(true)),
            ("/repairs/0/reason", json!("issuer_format")),
            ("/passport/mrz/line2", json!(l2)),
            ("warn", json!("mrz_repaired@number")),
        ],
    );
}

#[test]
fn expiry_and_confidence_checks() {
    // Expired passport: the MRZ year `20` resolves to 2020 through the issue date (2010).
    let mut f = specimen_fields();
    f.expiry_yymmdd = "200815".into();
    let (l1, l2) = compose_td3(&f);
    let pp = with(consistent(), "mrz1", t(&l1));
    let pp = with(pp, "mrz2", t(&l2));
    let pp = with(pp, "issueDate", t("15 AUG 2010"));
    let pp = with(pp, "expireDate", t("15 AUG 2020"));
    check(
        pp,
        &[
            ("/checks/expired", json!(true)),
            ("warn", json!("expired")),
            ("/passport/expiry_date", json!("2020-08-15")),
            ("/checks/mismatches", json!([])),
        ],
    );
    let n = run(json!({}), Some(false));
    assert_eq!(n.checks.is_confident, Some(false));
    assert_eq!(n.checks.expired, None);
    assert!(warning_keys(&n).contains(&"not_confident".to_string()));
    for f in FIELD_NAMES.iter().filter(|f| !f.starts_with("mrz")) {
        assert!(
            warning_keys(&n).contains(&format!("field_missing@{f}")),
            "{f}"
        );
    }
}

#[test]
fn truncation_is_warned() {
    let many: Vec<Value> = (0..40).map(|_| json!({"text": "KIM"})).collect();
    let body = json!({"images": [{"idCard": {"result": {"pp": {"surName": many}}}}]});
    let r = parse_response(body.to_string().as_bytes()).unwrap();
    let pp = r.images[0]
        .id_card
        .as_ref()
        .unwrap()
        .result
        .as_ref()
        .unwrap()
        .pp
        .clone()
        .unwrap();
    let n = normalize(&pp, None, today());
    assert!(warning_keys(&n).contains(&"candidates_truncated@surname".to_string()));
    assert_eq!(n.fields["surname"].candidates, 32);
}

#[test]
fn vendor_example_normalizes() {
    let r = parse_response(include_bytes!("fixtures/vendor_example.json")).unwrap();
    let result = r.images[0]
        .id_card
        .as_ref()
        .unwrap()
        .result
        .as_ref()
        .unwrap();
    let n = normalize(result.pp.as_ref().unwrap(), result.is_confident, today());
    let p = &n.passport;
    assert_eq!(p.number.as_deref(), Some("M123A****"));
    assert_eq!(p.nationality.as_deref(), Some("KOR"));
    assert_eq!(p.issuing_country.as_deref(), Some("KOR"));
    assert_eq!(
        p.birth_date.map(|d| d.to_string()).as_deref(),
        Some("1987-02-01")
    );
    assert_eq!(
        p.expiry_date.map(|d| d.to_string()).as_deref(),
        Some("2030-08-15")
    );
    assert_eq!(p.sex.map(|s| s.as_str()), Some("F"));
    assert_eq!(p.full_name_korean.as_deref(), Some("Hong**"));
    assert!(!n.checks.mrz_valid);
    assert!(n.checks.mrz_present);
    assert!(n.checks.mismatches.is_empty());
    assert_eq!(n.checks.min_field_confidence, Some(0.0));
    for f in [
        "number",
        "given_names",
        "full_name_korean",
        "mrz.line1",
        "mrz.line2",
    ] {
        assert!(n.fields[f].masked, "{f}");
    }
    let w = warning_keys(&n);
    for want in [
        "field_masked@number",
        "field_masked@given_names",
        "field_masked@mrz.line2",
        "mrz_invalid",
        "mrz_wrong_length@mrz.line2",
    ] {
        assert!(w.contains(&want.to_string()), "{want} in {w:?}");
    }
    // No personal data in warnings.
    let text = serde_json::to_string(&n.warnings).unwrap();
    for personal in ["HONG", "M123", "1987", "KOR"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
}
