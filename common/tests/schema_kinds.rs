//! `ErrorKind`'s wire names against `schemas/dead-letter.schema.json`: a new kind cannot ship
//! without its schema entry (or without being listed as never dead-lettered), and the schema
//! cannot list a kind the worker does not have.

use std::collections::BTreeSet;

use ocr_common::failure::ErrorKind;
use serde_json::Value;

/// Kinds a dead letter can carry.
const DEAD_LETTER_KINDS: [ErrorKind; 13] = [
    ErrorKind::InvalidJob,
    ErrorKind::BucketNotAllowed,
    ErrorKind::ObjectNotFound,
    ErrorKind::AccessDenied,
    ErrorKind::ImageTooLarge,
    ErrorKind::UnsupportedFormat,
    ErrorKind::CorruptImage,
    ErrorKind::OcrRejected,
    ErrorKind::OcrUnrecognized,
    ErrorKind::WrongDocumentType,
    ErrorKind::OcrBadResponse,
    ErrorKind::RetriesExhausted,
    ErrorKind::PoisonMessage,
];

/// Kinds that are never dead-lettered (metrics and logs only).
const NEVER_DEAD_LETTERED: [ErrorKind; 4] = [
    ErrorKind::Configuration,
    ErrorKind::Transient,
    ErrorKind::RateLimited,
    ErrorKind::QuotaExhausted,
];

/// Which list a kind belongs to. No wildcard arm: adding a variant to `ErrorKind` breaks this
/// test's build until the variant is placed in one of the lists above.
fn is_dead_letter_kind(kind: ErrorKind) -> bool {
    match kind {
        ErrorKind::InvalidJob
        | ErrorKind::BucketNotAllowed
        | ErrorKind::ObjectNotFound
        | ErrorKind::AccessDenied
        | ErrorKind::ImageTooLarge
        | ErrorKind::UnsupportedFormat
        | ErrorKind::CorruptImage
        | ErrorKind::OcrRejected
        | ErrorKind::OcrUnrecognized
        | ErrorKind::WrongDocumentType
        | ErrorKind::OcrBadResponse
        | ErrorKind::RetriesExhausted
        | ErrorKind::PoisonMessage => true,
        ErrorKind::Configuration
        | ErrorKind::Transient
        | ErrorKind::RateLimited
        | ErrorKind::QuotaExhausted => false,
    }
}

fn all_kinds() -> impl Iterator<Item = ErrorKind> {
    DEAD_LETTER_KINDS.into_iter().chain(NEVER_DEAD_LETTERED)
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
fn the_lists_agree_with_the_exhaustive_match() {
    for k in DEAD_LETTER_KINDS {
        assert!(is_dead_letter_kind(k), "{k:?}");
    }
    for k in NEVER_DEAD_LETTERED {
        assert!(!is_dead_letter_kind(k), "{k:?}");
    }
    let distinct: BTreeSet<_> = all_kinds().map(ErrorKind::as_str).collect();
    assert_eq!(
        distinct.len(),
        all_kinds().count(),
        "a kind is listed twice"
    );
}

#[test]
fn every_wire_name_round_trips_through_serde() {
    for k in all_kinds() {
        let json = serde_json::to_value(k).unwrap();
        assert_eq!(json, Value::from(k.as_str()), "{k:?} serializes otherwise");
        let back: ErrorKind = serde_json::from_value(json).unwrap();
        assert_eq!(back, k);
        assert_eq!(k.to_string(), k.as_str(), "{k:?} displays otherwise");
    }
}

#[test]
fn the_dead_letter_schema_lists_exactly_the_dead_letter_kinds() {
    let code: BTreeSet<String> = DEAD_LETTER_KINDS
        .iter()
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
    for k in NEVER_DEAD_LETTERED {
        assert!(!schema.contains(k.as_str()), "{k:?} is in the schema");
    }
}
