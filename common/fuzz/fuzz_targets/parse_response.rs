//! `parse_response` and `parse_error_body` on arbitrary bytes: never panic; a parsed response
//! serializes and reads back equal (floats to 1e-12 relative: `serde_json` without its
//! `float_roundtrip` feature may parse the shortest representation 1 ULP off); every passport
//! section normalizes without panicking.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use ocr_common::clova::{parse_error_body, parse_response};
use ocr_common::normalize::normalize;
use serde_json::Value;

fn approx_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                (x - y).abs() <= 1e-12 * x.abs().max(y.abs()) || x == y
            }
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| approx_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| approx_eq(v, w)))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_error_body(data);
    let Ok(resp) = parse_response(data) else {
        return;
    };
    let json = serde_json::to_vec(&resp).expect("serializable");
    let back = parse_response(&json).expect("own output parses");
    let (va, vb) = (
        serde_json::to_value(&resp).expect("value"),
        serde_json::to_value(&back).expect("value"),
    );
    assert!(approx_eq(&va, &vb), "round trip");
    let today = NaiveDate::from_ymd_opt(2026, 5, 1).expect("date");
    for img in &resp.images {
        let Some(result) = img.id_card.as_ref().and_then(|c| c.result.as_ref()) else {
            continue;
        };
        let _ = result.document_kind();
        if let Some(pp) = &result.pp {
            let n = normalize(pp, result.is_confident, today);
            let _ = serde_json::to_vec(&n).expect("serializable");
        }
    }
});
