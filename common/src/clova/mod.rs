//! Typed model of the CLOVA OCR `/document/id-card` response and of its error bodies.
//!
//! The wire format is camelCase JSON. Reading is deliberately lenient and never panics:
//! numbers where strings belong are stringified, wrong-typed leaves are dropped, long arrays are
//! cut (see [`MAX_CANDIDATES`]). Only structural problems that make the response unusable (not
//! JSON, not an object, `images` not an array, ...) become a [`ResponseError`].
//!
//! The rules are written once, over a JSON tree (bounded in size and nesting by
//! [`MAX_BODY_BYTES`] and `serde_json`'s recursion limit), in [`lenient`]. The hot path,
//! [`parse_response`], applies them while it streams the bytes (`wire`, no tree) and leaves
//! every body it declines to the tree reader, which also makes every [`ResponseError`].
//!
//! Every type here also implements `Deserialize` through the same lenient reader, so
//! `serde_json::from_slice::<OcrResponse>` and [`parse_response`] agree, and a value serialized
//! with `Serialize` reads back equal.

mod error_body;
pub mod lenient;
mod wire;

use serde::Serialize;
use serde_json::Value;

pub use error_body::{ErrorBody, parse_error_body};

/// Largest response body [`parse_response`] accepts. A real response is a few tens of KiB.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Candidates kept per `pp` field; the rest are dropped and the field is listed in
/// [`PassportFields::truncated`].
pub const MAX_CANDIDATES: usize = 32;
/// Images kept per response (the API answers one image per request).
pub const MAX_IMAGES: usize = 16;
/// Polygons kept per candidate (`boundingPolys`, `maskingPolys`) and in `rois`.
pub const MAX_POLYS: usize = 32;
/// Vertices kept per polygon.
pub const MAX_VERTICES: usize = 64;

/// Why a response body could not be read. Carries positions and paths only, never body content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The body is empty or only whitespace.
    #[error("response body is empty")]
    Empty,
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("response body too large: {len} bytes (max {max})")]
    TooLarge {
        /// Body length in bytes.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Not valid JSON (bad syntax, invalid escape, invalid UTF-8, trailing garbage).
    #[error("response body is not valid JSON (line {line}, column {column})")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The JSON text ends early.
    #[error("response body is truncated JSON (line {line}, column {column})")]
    Truncated {
        /// 1-based line where input ended.
        line: usize,
        /// 1-based column where input ended.
        column: usize,
    },
    /// Nesting deeper than the JSON parser's recursion limit (128).
    #[error("response body nests too deeply")]
    TooDeep,
    /// The top-level JSON value is not an object.
    #[error("response body is a JSON {found}, expected an object")]
    NotAnObject {
        /// JSON type found.
        found: &'static str,
    },
    /// A structural member has the wrong JSON type.
    #[error("`{path}` is a JSON {found}, expected {expected}")]
    WrongType {
        /// Location in the body, e.g. `images[0].idCard`.
        path: String,
        /// Expected JSON type.
        expected: &'static str,
        /// JSON type found.
        found: &'static str,
    },
}

/// Top-level response of `POST /document/id-card`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OcrResponse {
    /// API version echoed back, e.g. `V2`.
    pub version: Option<String>,
    /// The request id echoed back.
    pub request_id: Option<String>,
    /// Server timestamp in milliseconds.
    pub timestamp: Option<i64>,
    /// One entry per image (one image per request in practice).
    pub images: Vec<ImageResult>,
}

/// Result for one image.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageResult {
    /// Image UID assigned by the service.
    pub uid: Option<String>,
    /// The image name sent in the request.
    pub name: Option<String>,
    /// Recognition outcome.
    pub infer_result: InferResult,
    /// Result message, e.g. `SUCCESS` or `Read page:0 error.`.
    pub message: Option<String>,
    /// Validity check result.
    pub validation_result: Option<ValidationResult>,
    /// The ID-card recognition result, present on success.
    pub id_card: Option<IdCard>,
}

/// `inferResult`: `SUCCESS`, `FAILURE` (image not recognisable; permanent) or `ERROR`
/// (error while recognising). Matching is case-insensitive; anything else is kept in `Other`,
/// and a missing value reads as `Other("")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InferResult {
    /// `SUCCESS`.
    Success,
    /// `FAILURE`.
    Failure,
    /// `ERROR`.
    Error,
    /// Any other value, as sent (empty when missing).
    Other(String),
}

impl Default for InferResult {
    fn default() -> Self {
        InferResult::Other(String::new())
    }
}

impl InferResult {
    /// Classify a wire value.
    pub fn from_wire(s: &str) -> Self {
        match s.trim().to_ascii_uppercase().as_str() {
            "SUCCESS" => InferResult::Success,
            "FAILURE" => InferResult::Failure,
            "ERROR" => InferResult::Error,
            _ => InferResult::Other(s.to_owned()),
        }
    }

    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            InferResult::Success => "SUCCESS",
            InferResult::Failure => "FAILURE",
            InferResult::Error => "ERROR",
            InferResult::Other(s) => s,
        }
    }
}

impl Serialize for InferResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `validationResult`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationResult {
    /// Result code, e.g. `NO_REQUESTED`.
    pub result: Option<String>,
    /// Details message.
    pub message: Option<String>,
}

/// `idCard`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdCard {
    /// `idCard.meta`.
    pub meta: Option<Meta>,
    /// `idCard.result`.
    pub result: Option<IdCardResult>,
}

/// `idCard.meta`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// OCR estimated language, e.g. `ko`.
    pub estimated_language: Option<String>,
}

/// `idCard.result`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdCardResult {
    /// Whether the service is confident about every field.
    pub is_confident: Option<bool>,
    /// ID type, e.g. `Passport`, `Driver's License`. Read from `idType` or `idtype`.
    pub id_type: Option<String>,
    /// Passport section.
    pub pp: Option<PassportFields>,
    /// Object border polygons.
    pub rois: Vec<Poly>,
    /// Names of other known document sections present (`ic`, `dl`, `ac`), in that order.
    /// Kept so that a non-passport answer can be classified; their content is not modelled.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_sections: Vec<String>,
}

/// What kind of document the service says it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentKind {
    /// A passport (`idtype` says so, or no `idtype` and a `pp` section).
    Passport,
    /// Another document: the `idtype` as sent (e.g. `Driver's License`) or, without `idtype`,
    /// the section name (`ic`, `dl`, `ac`).
    Other(String),
    /// Nothing tells.
    Unknown,
}

/// Sections of `idCard.result` that belong to non-passport documents.
pub const OTHER_SECTIONS: [&str; 3] = ["ic", "dl", "ac"];

impl IdCardResult {
    /// Classify the document: see [`DocumentKind`].
    pub fn document_kind(&self) -> DocumentKind {
        let id_type = self
            .id_type
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        match id_type {
            Some(t) if t.eq_ignore_ascii_case("passport") || t.eq_ignore_ascii_case("pp") => {
                DocumentKind::Passport
            }
            Some(t) => DocumentKind::Other(t.to_owned()),
            None if self.pp.is_some() => DocumentKind::Passport,
            None => match self.other_sections.first() {
                Some(s) => DocumentKind::Other(s.clone()),
                None => DocumentKind::Unknown,
            },
        }
    }
}

/// The `pp` section: every field is a list of OCR candidates (possibly empty).
/// Field names are the snake_case of the wire names. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PassportFields {
    /// `type`: document code, e.g. `PM`.
    pub r#type: Vec<Candidate>,
    /// `issueCountry`.
    pub issue_country: Vec<Candidate>,
    /// `num`: passport number.
    pub num: Vec<Candidate>,
    /// `surName`.
    pub sur_name: Vec<Candidate>,
    /// `givenName`.
    pub given_name: Vec<Candidate>,
    /// `nationality` (a country name on the visual zone).
    pub nationality: Vec<Candidate>,
    /// `birthDate`.
    pub birth_date: Vec<Candidate>,
    /// `sex`.
    pub sex: Vec<Candidate>,
    /// `issueDate`.
    pub issue_date: Vec<Candidate>,
    /// `expireDate`.
    pub expire_date: Vec<Candidate>,
    /// `authority`.
    pub authority: Vec<Candidate>,
    /// `fullNameKor`: full name in Hangul.
    pub full_name_kor: Vec<Candidate>,
    /// `mrz1`: first MRZ line.
    pub mrz1: Vec<Candidate>,
    /// `mrz2`: second MRZ line.
    pub mrz2: Vec<Candidate>,
    /// `condition` (documented, not used by normalization).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub condition: Vec<Candidate>,
    /// `organDonation` (documented, not used by normalization).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organ_donation: Vec<Candidate>,
    /// Wire names of the fields whose candidate list was cut to [`MAX_CANDIDATES`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
}

/// One OCR candidate for a field.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// Recognized text as read.
    pub text: Option<String>,
    /// The service's own structured reading.
    pub formatted: Option<Formatted>,
    /// Key text (label) near the value.
    pub key_text: Option<String>,
    /// Confidence in `0..=1` (often `0.0`: not a reliable signal alone).
    pub confidence_score: Option<f64>,
    /// Where the text is.
    pub bounding_polys: Vec<Poly>,
    /// Areas the service masked.
    pub masking_polys: Vec<Poly>,
}

/// `formatted`: `value` for text fields, `year`/`month`/`day` for dates. Numbers are stringified.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Formatted {
    /// Formatted value.
    pub value: Option<String>,
    /// Year (`yyyy`).
    pub year: Option<String>,
    /// Month (`MM`).
    pub month: Option<String>,
    /// Day (`dd`).
    pub day: Option<String>,
}

/// A polygon.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Poly {
    /// Its vertices (vertices without numeric `x` and `y` are dropped).
    pub vertices: Vec<Vertex>,
}

/// A point in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Vertex {
    /// X coordinate.
    pub x: f64,
    /// Y coordinate.
    pub y: f64,
}

/// Parse a `200 OK` body of `POST /document/id-card`. Never panics.
///
/// Read straight into the model ([`wire`]) when it can be; a body that reading declines is
/// read through the JSON tree ([`lenient`]), which classifies what is wrong with it.
pub fn parse_response(body: &[u8]) -> Result<OcrResponse, ResponseError> {
    check_body(body)?;
    match wire::response(body) {
        Some(response) => Ok(response),
        None => lenient::response(&read_tree(body)?),
    }
}

/// Read an answer from a JSON tree kept earlier (a stored entry's `clova_response`), under
/// the same lenient rules as [`parse_response`].
pub fn response_from_tree(value: &Value) -> Result<OcrResponse, ResponseError> {
    lenient::response(value)
}

/// The size and emptiness checks made before any parsing.
fn check_body(body: &[u8]) -> Result<(), ResponseError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ResponseError::TooLarge {
            len: body.len(),
            max: MAX_BODY_BYTES,
        });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ResponseError::Empty);
    }
    Ok(())
}

/// Parse bytes into a JSON tree, classifying failures.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ResponseError> {
    check_body(body)?;
    read_tree(body)
}

/// The JSON tree of a body already through [`check_body`].
fn read_tree(body: &[u8]) -> Result<Value, ResponseError> {
    serde_json::from_slice::<Value>(body).map_err(|e| classify(&e))
}

fn classify(e: &serde_json::Error) -> ResponseError {
    use serde_json::error::Category;
    let (line, column) = (e.line(), e.column());
    match e.classify() {
        Category::Eof => ResponseError::Truncated { line, column },
        _ if e.to_string().contains("recursion limit") => ResponseError::TooDeep,
        _ => ResponseError::Syntax { line, column },
    }
}

/// Implements `Deserialize` through the lenient reader, so there is one reading of the wire.
macro_rules! lenient_deserialize {
    ($($ty:ty => $f:path),* $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = Value::deserialize(d)?;
                $f(&v).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

lenient_deserialize! {
    OcrResponse => lenient::response,
    ImageResult => lenient::image_at_root,
    IdCard => lenient::id_card_at_root,
    IdCardResult => lenient::id_card_result_at_root,
    PassportFields => lenient::passport_fields_at_root,
    InferResult => lenient::infer_result,
    ValidationResult => lenient::validation_result,
    Meta => lenient::meta,
    Candidate => lenient::candidate_strict,
    Formatted => lenient::formatted_strict,
    Poly => lenient::poly_strict,
    Vertex => lenient::vertex_strict,
}
