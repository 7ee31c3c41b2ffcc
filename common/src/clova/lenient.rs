//! Hand-written, lenient conversion from a JSON tree to the response model.
//!
//! Rules: containers that the rest of the pipeline navigates (`images`, each image, `idCard`,
//! `idCard.result`, `pp`) must be objects/arrays when present, else [`ResponseError::WrongType`].
//! Leaves are tolerant: a number where a string belongs is stringified, a numeric string where a
//! number belongs is parsed, anything else of the wrong type reads as absent. Arrays are cut to
//! the caps in the parent module.

use serde_json::{Map, Value};

use super::{
    Candidate, Formatted, IdCard, IdCardResult, ImageResult, InferResult, MAX_CANDIDATES,
    MAX_IMAGES, MAX_POLYS, MAX_VERTICES, Meta, OTHER_SECTIONS, OcrResponse, PassportFields, Poly,
    ResponseError, ValidationResult, Vertex,
};

type Obj = Map<String, Value>;

/// JSON type name of a value, for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A string leaf: strings as is, numbers stringified, anything else absent.
pub fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An integer leaf: integral numbers in `i64` range, or a string holding one.
pub fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            // Strict bounds: `i64::MAX as f64` rounds up to 2^63, which does not fit.
            (f.is_finite() && f.fract() == 0.0 && f >= -(2f64.powi(63)) && f < 2f64.powi(63))
                .then_some(f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A float leaf: finite numbers, or a string holding one.
pub fn float(v: Option<&Value>) -> Option<f64> {
    let f = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    f.is_finite().then_some(f)
}

/// A boolean leaf: booleans, or the strings `true`/`false` (any case).
pub fn boolean(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn as_object<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, ResponseError> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(ResponseError::WrongType {
            path: path.to_owned(),
            expected: "object",
            found: type_name(other),
        }),
    }
}

/// A structural member: absent or `null` → `None`; object → `Some`; anything else → error.
fn member<'a>(m: &'a Obj, key: &str, path: &str) -> Result<Option<&'a Obj>, ResponseError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_object(v, &join(path, key)).map(Some),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Whole response. The top level must be an object.
pub fn response(v: &Value) -> Result<OcrResponse, ResponseError> {
    let m = match v {
        Value::Object(m) => m,
        other => {
            return Err(ResponseError::NotAnObject {
                found: type_name(other),
            });
        }
    };
    let images = match m.get("images") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .take(MAX_IMAGES)
            .enumerate()
            .map(|(i, x)| image(x, &format!("images[{i}]")))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ResponseError::WrongType {
                path: "images".into(),
                expected: "array",
                found: type_name(other),
            });
        }
    };
    Ok(OcrResponse {
        version: string(m.get("version")),
        request_id: string(m.get("requestId")),
        timestamp: int(m.get("timestamp")),
        images,
    })
}

fn image(v: &Value, path: &str) -> Result<ImageResult, ResponseError> {
    let m = as_object(v, path)?;
    let id_card = match member(m, "idCard", path)? {
        Some(c) => Some(id_card(c, &join(path, "idCard"))?),
        None => None,
    };
    Ok(ImageResult {
        uid: string(m.get("uid")),
        name: string(m.get("name")),
        infer_result: string(m.get("inferResult"))
            .map(|s| InferResult::from_wire(&s))
            .unwrap_or_default(),
        message: string(m.get("message")),
        validation_result: m
            .get("validationResult")
            .and_then(Value::as_object)
            .map(validation_result_obj),
        id_card,
    })
}

fn id_card(m: &Obj, path: &str) -> Result<IdCard, ResponseError> {
    let result = match member(m, "result", path)? {
        Some(r) => Some(id_card_result(r, &join(path, "result"))?),
        None => None,
    };
    Ok(IdCard {
        meta: m.get("meta").and_then(Value::as_object).map(meta_obj),
        result,
    })
}

fn id_card_result(m: &Obj, path: &str) -> Result<IdCardResult, ResponseError> {
    let pp = member(m, "pp", path)?.map(passport_fields);
    let mut other_sections: Vec<String> = OTHER_SECTIONS
        .iter()
        .filter(|k| m.get(**k).is_some_and(|v| !v.is_null()))
        .map(|k| (*k).to_owned())
        .collect();
    // Our own serialization writes `otherSections`; read it back.
    if let Some(Value::Array(a)) = m.get("otherSections") {
        for s in a.iter().filter_map(Value::as_str) {
            if OTHER_SECTIONS.contains(&s) && !other_sections.iter().any(|x| x == s) {
                other_sections.push(s.to_owned());
            }
        }
    }
    Ok(IdCardResult {
        is_confident: boolean(m.get("isConfident")),
        id_type: string(m.get("idType")).or_else(|| string(m.get("idtype"))),
        pp,
        rois: polys(m.get("rois")),
        other_sections,
    })
}

fn passport_fields(m: &Obj) -> PassportFields {
    let mut pp = PassportFields::default();
    let mut truncated = Vec::new();
    {
        let slots: [(&str, &mut Vec<Candidate>); 16] = [
            ("type", &mut pp.r#type),
            ("issueCountry", &mut pp.issue_country),
            ("num", &mut pp.num),
            ("surName", &mut pp.sur_name),
            ("givenName", &mut pp.given_name),
            ("nationality", &mut pp.nationality),
            ("birthDate", &mut pp.birth_date),
            ("sex", &mut pp.sex),
            ("issueDate", &mut pp.issue_date),
            ("expireDate", &mut pp.expire_date),
            ("authority", &mut pp.authority),
            ("fullNameKor", &mut pp.full_name_kor),
            ("mrz1", &mut pp.mrz1),
            ("mrz2", &mut pp.mrz2),
            ("condition", &mut pp.condition),
            ("organDonation", &mut pp.organ_donation),
        ];
        for (wire, slot) in slots {
            let (list, cut) = candidates(m.get(wire));
            *slot = list;
            if cut {
                truncated.push(wire.to_owned());
            }
        }
    }
    if let Some(Value::Array(a)) = m.get("truncated") {
        for s in a.iter().filter_map(Value::as_str).take(32) {
            if !truncated.iter().any(|x| x == s) {
                truncated.push(s.to_owned());
            }
        }
    }
    pp.truncated = truncated;
    pp
}

/// A candidate list, cut to [`MAX_CANDIDATES`]; the flag tells whether it was cut.
/// A lone object or string is read as a one-element list.
pub fn candidates(v: Option<&Value>) -> (Vec<Candidate>, bool) {
    match v {
        Some(Value::Array(a)) => (
            a.iter()
                .take(MAX_CANDIDATES)
                .filter_map(candidate_lenient)
                .collect(),
            a.len() > MAX_CANDIDATES,
        ),
        Some(v) => (candidate_lenient(v).into_iter().collect(), false),
        None => (Vec::new(), false),
    }
}

fn candidate_lenient(v: &Value) -> Option<Candidate> {
    match v {
        Value::Object(m) => Some(candidate_obj(m)),
        Value::String(_) | Value::Number(_) => Some(Candidate {
            text: string(Some(v)),
            ..Candidate::default()
        }),
        _ => None,
    }
}

fn candidate_obj(m: &Obj) -> Candidate {
    Candidate {
        text: string(m.get("text")),
        formatted: match m.get("formatted") {
            Some(Value::Object(f)) => Some(formatted_obj(f)),
            Some(v @ (Value::String(_) | Value::Number(_))) => Some(Formatted {
                value: string(Some(v)),
                ..Formatted::default()
            }),
            _ => None,
        },
        key_text: string(m.get("keyText")),
        confidence_score: float(m.get("confidenceScore")),
        bounding_polys: polys(m.get("boundingPolys")),
        masking_polys: polys(m.get("maskingPolys")),
    }
}

fn formatted_obj(m: &Obj) -> Formatted {
    Formatted {
        value: string(m.get("value")),
        year: string(m.get("year")),
        month: string(m.get("month")),
        day: string(m.get("day")),
    }
}

/// A polygon list, cut to [`MAX_POLYS`]; malformed polygons are dropped.
pub fn polys(v: Option<&Value>) -> Vec<Poly> {
    match v {
        Some(Value::Array(a)) => a.iter().take(MAX_POLYS).filter_map(poly).collect(),
        _ => Vec::new(),
    }
}

fn poly(v: &Value) -> Option<Poly> {
    let vertices = match v {
        Value::Object(m) => m.get("vertices")?.as_array()?,
        _ => return None,
    };
    Some(Poly {
        vertices: vertices
            .iter()
            .take(MAX_VERTICES)
            .filter_map(vertex)
            .collect(),
    })
}

fn vertex(v: &Value) -> Option<Vertex> {
    let m = v.as_object()?;
    Some(Vertex {
        x: float(m.get("x"))?,
        y: float(m.get("y"))?,
    })
}

fn validation_result_obj(m: &Obj) -> ValidationResult {
    ValidationResult {
        result: string(m.get("result")),
        message: string(m.get("message")),
    }
}

fn meta_obj(m: &Obj) -> Meta {
    Meta {
        estimated_language: string(m.get("estimatedLanguage")),
    }
}

// ---- entry points used by the `Deserialize` impls (value at the root of what is read) ----

pub(super) fn image_at_root(v: &Value) -> Result<ImageResult, ResponseError> {
    image(v, "")
}

pub(super) fn id_card_at_root(v: &Value) -> Result<IdCard, ResponseError> {
    id_card(as_object(v, "")?, "")
}

pub(super) fn id_card_result_at_root(v: &Value) -> Result<IdCardResult, ResponseError> {
    id_card_result(as_object(v, "")?, "")
}

pub(super) fn passport_fields_at_root(v: &Value) -> Result<PassportFields, ResponseError> {
    Ok(passport_fields(as_object(v, "")?))
}

pub(super) fn infer_result(v: &Value) -> Result<InferResult, ResponseError> {
    Ok(string(Some(v))
        .map(|s| InferResult::from_wire(&s))
        .unwrap_or_default())
}

pub(super) fn validation_result(v: &Value) -> Result<ValidationResult, ResponseError> {
    Ok(validation_result_obj(as_object(v, "")?))
}

pub(super) fn meta(v: &Value) -> Result<Meta, ResponseError> {
    Ok(meta_obj(as_object(v, "")?))
}

pub(super) fn candidate_strict(v: &Value) -> Result<Candidate, ResponseError> {
    Ok(candidate_obj(as_object(v, "")?))
}

pub(super) fn formatted_strict(v: &Value) -> Result<Formatted, ResponseError> {
    Ok(formatted_obj(as_object(v, "")?))
}

pub(super) fn poly_strict(v: &Value) -> Result<Poly, ResponseError> {
    as_object(v, "")?;
    poly(v).ok_or_else(|| ResponseError::WrongType {
        path: "vertices".into(),
        expected: "array",
        found: "other",
    })
}

pub(super) fn vertex_strict(v: &Value) -> Result<Vertex, ResponseError> {
    vertex(v).ok_or_else(|| ResponseError::WrongType {
        path: String::new(),
        expected: "object with numeric x and y",
        found: type_name(v),
    })
}
