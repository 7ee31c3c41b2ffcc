//! The response model: the vendor's examples, hostile bodies, leniency, classification.

use ocr_common::clova::{
    DocumentKind, InferResult, MAX_CANDIDATES, OcrResponse, ResponseError, parse_response,
};

const VENDOR: &str = include_str!("fixtures/vendor_example.json");
const VENDOR_FAILURE: &str = include_str!("fixtures/vendor_failure.json");

#[test]
fn vendor_example_parses() {
    let r = parse_response(VENDOR.as_bytes()).unwrap();
    assert_eq!(r.version.as_deref(), Some("V2"));
    assert_eq!(r.request_id.as_deref(), Some("1234"));
    assert_eq!(r.timestamp, Some(1_725_412_120_101));
    let img = &r.images[0];
    assert_eq!(img.infer_result, InferResult::Success);
    assert_eq!(
        img.validation_result
            .as_ref()
            .and_then(|v| v.result.as_deref()),
        Some("NO_REQUESTED")
    );
    let card = img.id_card.as_ref().unwrap();
    assert_eq!(
        card.meta.as_ref().unwrap().estimated_language.as_deref(),
        Some("ko")
    );
    let res = card.result.as_ref().unwrap();
    assert_eq!(res.is_confident, Some(true));
    assert_eq!(res.id_type.as_deref(), Some("Passport"));
    assert_eq!(res.document_kind(), DocumentKind::Passport);
    assert_eq!(res.rois[0].vertices.len(), 4);
    let pp = res.pp.as_ref().unwrap();
    assert_eq!(pp.num[0].text.as_deref(), Some("M123A****"));
    assert_eq!(pp.num[0].masking_polys.len(), 1);
    assert_eq!(
        pp.birth_date[0]
            .formatted
            .as_ref()
            .unwrap()
            .month
            .as_deref(),
        Some("02")
    );
    assert_eq!(pp.sex[0].text.as_deref(), Some("F んだ"));
    assert_eq!(pp.mrz2[0].text.as_ref().unwrap().len(), 34);
    assert!(pp.truncated.is_empty());

    // Serialize → read back is the identity.
    let json = serde_json::to_vec(&r).unwrap();
    assert_eq!(parse_response(&json).unwrap(), r);
    assert_eq!(serde_json::from_slice::<OcrResponse>(&json).unwrap(), r);
}

#[test]
fn vendor_failure_parses() {
    let r = parse_response(VENDOR_FAILURE.as_bytes()).unwrap();
    assert_eq!(r.images[0].infer_result, InferResult::Error);
    assert_eq!(r.images[0].message.as_deref(), Some("Read page:0 error."));
    assert!(r.images[0].id_card.is_none());
}

fn check(body: &str, expected: Result<&str, ResponseError>) {
    let got = parse_response(body.as_bytes());
    match (&got, expected) {
        (Ok(r), Ok(want)) => {
            let v = serde_json::to_value(r).unwrap();
            let want: serde_json::Value = serde_json::from_str(want).unwrap();
            assert_eq!(v, want, "{body}");
        }
        (Err(e), Err(want)) => assert_eq!(*e, want, "{body}"),
        _ => panic!("{body}: got {got:?}"),
    }
}

#[test]
fn hostile_and_odd_bodies() {
    use ResponseError::*;
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let deep_obj = format!(r#"{{"images":{}{}}}"#, "[".repeat(150), "]".repeat(150));
    for (body, expected) in [
        ("", Err(Empty)),
        ("  \n", Err(Empty)),
        ("{", Err(Truncated { line: 1, column: 1 })),
        ("nope", Err(Syntax { line: 1, column: 2 })),
        (r#"{"a":"\q"}"#, Err(Syntax { line: 1, column: 8 })),
        (
            r#"{"a":"\ud800"}"#,
            Err(Syntax {
                line: 1,
                column: 13,
            }),
        ),
        ("{} x", Err(Syntax { line: 1, column: 4 })),
        ("[1]", Err(NotAnObject { found: "array" })),
        ("null", Err(NotAnObject { found: "null" })),
        (&deep, Err(TooDeep)),
        (&deep_obj, Err(TooDeep)),
        (
            r#"{"images":{}}"#,
            Err(WrongType {
                path: "images".into(),
                expected: "array",
                found: "object",
            }),
        ),
        (
            r#"{"images":[7]}"#,
            Err(WrongType {
                path: "images[0]".into(),
                expected: "object",
                found: "number",
            }),
        ),
        (
            r#"{"images":[{"idCard":{"result":{"pp":[]}}}]}"#,
            Err(WrongType {
                path: "images[0].idCard.result.pp".into(),
                expected: "object",
                found: "array",
            }),
        ),
        (
            "{}",
            Ok(r#"{"version":null,"requestId":null,"timestamp":null,"images":[]}"#),
        ),
        // Numbers where strings belong are stringified; numeric strings where numbers belong
        // are read; wrong-typed leaves are dropped.
        (
            r#"{"version":2,"requestId":true,"timestamp":"17","images":[{"inferResult":"success","uid":[1],
               "idCard":{"result":{"isConfident":"false","idtype":"Passport","pp":{
                 "num":[{"text":12345678,"confidenceScore":"0.5","formatted":{"value":1}},"M1",null,{"boundingPolys":[{"vertices":[{"x":1,"y":"2"},{"x":"a","y":3}]},{"vertices":7}]}],
                 "birthDate":{"text":"1 JAN 2000","formatted":{"year":2000,"month":1,"day":1}},
                 "unknownField":[{"text":"x"}]}}}}]}"#,
            Ok(
                r#"{"version":"2","requestId":null,"timestamp":17,"images":[{"uid":null,"name":null,"inferResult":"SUCCESS","message":null,"validationResult":null,
               "idCard":{"meta":null,"result":{"isConfident":false,"idType":"Passport","rois":[],"pp":{
                 "type":[],"issueCountry":[],"surName":[],"givenName":[],"nationality":[],"sex":[],"issueDate":[],"expireDate":[],"authority":[],"fullNameKor":[],"mrz1":[],"mrz2":[],
                 "num":[{"text":"12345678","formatted":{"value":"1","year":null,"month":null,"day":null},"keyText":null,"confidenceScore":0.5,"boundingPolys":[],"maskingPolys":[]},
                        {"text":"M1","formatted":null,"keyText":null,"confidenceScore":null,"boundingPolys":[],"maskingPolys":[]},
                        {"text":null,"formatted":null,"keyText":null,"confidenceScore":null,"boundingPolys":[{"vertices":[{"x":1.0,"y":2.0}]}],"maskingPolys":[]}],
                 "birthDate":[{"text":"1 JAN 2000","formatted":{"value":null,"year":"2000","month":"1","day":"1"},"keyText":null,"confidenceScore":null,"boundingPolys":[],"maskingPolys":[]}]}}}}]}"#,
            ),
        ),
    ] {
        check(body, expected);
    }
}

#[test]
fn huge_candidate_lists_are_cut_and_noted() {
    let many: Vec<String> = (0..1000).map(|i| format!(r#"{{"text":"N{i}"}}"#)).collect();
    let body = format!(
        r#"{{"images":[{{"idCard":{{"result":{{"pp":{{"num":[{}]}}}}}}}}]}}"#,
        many.join(",")
    );
    let r = parse_response(body.as_bytes()).unwrap();
    let pp = r.images[0]
        .id_card
        .as_ref()
        .unwrap()
        .result
        .as_ref()
        .unwrap()
        .pp
        .as_ref()
        .unwrap();
    assert_eq!(pp.num.len(), MAX_CANDIDATES);
    assert_eq!(pp.num[0].text.as_deref(), Some("N0"));
    assert_eq!(pp.truncated, vec!["num".to_string()]);
}

#[test]
fn too_large_is_refused_before_parsing() {
    let body = vec![b' '; ocr_common::clova::MAX_BODY_BYTES + 1];
    assert!(matches!(
        parse_response(&body),
        Err(ResponseError::TooLarge { .. })
    ));
}

#[test]
fn document_kind() {
    fn kind(result: &str) -> DocumentKind {
        let body = format!(r#"{{"images":[{{"idCard":{{"result":{result}}}}}]}}"#);
        let r = parse_response(body.as_bytes()).unwrap();
        r.images[0]
            .id_card
            .as_ref()
            .unwrap()
            .result
            .as_ref()
            .unwrap()
            .document_kind()
    }
    for (result, want) in [
        (r#"{"idtype":"Passport"}"#, DocumentKind::Passport),
        (r#"{"idType":"passport","pp":{}}"#, DocumentKind::Passport),
        (r#"{"pp":{}}"#, DocumentKind::Passport),
        (r#"{"idtype":"  ","pp":{}}"#, DocumentKind::Passport),
        (
            r#"{"idtype":"Driver's License","dl":{}}"#,
            DocumentKind::Other("Driver's License".into()),
        ),
        (
            r#"{"idType":"ID Card","pp":{}}"#,
            DocumentKind::Other("ID Card".into()),
        ),
        (r#"{"ic":{}}"#, DocumentKind::Other("ic".into())),
        (r#"{"ac":{"x":1}}"#, DocumentKind::Other("ac".into())),
        (r#"{}"#, DocumentKind::Unknown),
    ] {
        assert_eq!(kind(result), want, "{result}");
    }
}

#[test]
fn infer_results() {
    for (wire, want) in [
        ("SUCCESS", InferResult::Success),
        ("FAILURE", InferResult::Failure),
        ("error", InferResult::Error),
        ("PENDING", InferResult::Other("PENDING".into())),
    ] {
        let body = format!(r#"{{"images":[{{"inferResult":"{wire}"}}]}}"#);
        assert_eq!(
            parse_response(body.as_bytes()).unwrap().images[0].infer_result,
            want
        );
    }
    let r = parse_response(br#"{"images":[{}]}"#).unwrap();
    assert_eq!(r.images[0].infer_result, InferResult::Other(String::new()));
}
