//! `ErrorKind`'s wire names against `schemas/dead-letter.schema.json`: a new kind cannot ship
//! without its schema entry (`ErrorKind::is_dead_letter` has no wildcard, so it must be placed
//! there first), and the schema cannot list a kind the worker does not have.

use std::collections::BTreeSet;

use ocr_common::failure::ErrorKind;
use serde_json::Value;

fn dead_letter_kinds() -> impl Iterator<Item = ErrorKind> {
    ErrorKind::ALL.into_iter().filter(|k| k.is_dead_letter())
}

/// `error.kind`'s `enum` in the dead-letter schema.
fn schema_kinds() -> BTreeSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/dead-letter.schema.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    schema["properties"]["error"]["properties"]["kind"]["enum"]
        .as_array()
        .expect("error.kind is an enum")
        .iter()
        .map(|k| k.as_str().expect("kind names are strings").to_string())
        .collect()
}

#[test]
fn every_wire_name_round_trips_through_serde() {
    for k in ErrorKind::ALL {
        let json = serde_json::to_value(k).unwrap();
        assert_eq!(json, Value::from(k.as_str()), "{k:?} serializes otherwise");
        let back: ErrorKind = serde_json::from_value(json).unwrap();
        assert_eq!(back, k);
        assert_eq!(k.to_string(), k.as_str(), "{k:?} displays otherwise");
    }
}

#[test]
fn the_dead_letter_schema_lists_exactly_the_dead_letter_kinds() {
    let code: BTreeSet<String> = dead_letter_kinds()
        .map(|k| k.as_str().to_string())
        .collect();
    let schema = schema_kinds();
    let missing: Vec<_> = code.difference(&schema).collect();
    let unknown: Vec<_> = schema.difference(&code).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "dead-letter.schema.json error.kind: missing {missing:?}, not a dead-letter kind {unknown:?}"
    );
    // No never-dead-lettered kind may appear in the schema either.
    for k in ErrorKind::ALL.into_iter().filter(|k| !k.is_dead_letter()) {
        assert!(!schema.contains(k.as_str()), "{k:?} is in the schema");
    }
}
