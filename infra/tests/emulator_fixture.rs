//! The emulator's answers have the same *structure* as the vendor's example responses: the same
//! keys, recursively, with arrays compared by the structure of their elements (values ignored).

mod emulator_support;

use std::collections::BTreeMap;

use emulator_support::{Client, image_for};
use ocr_infra::emulator::{EmulatorConfig, spawn};
use ocr_infra::truth::Recognition;
use serde_json::Value;

/// The shape of a JSON value: its type, object keys recursively, array element shapes.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Null,
    Bool,
    Number,
    String,
    /// `None`: an empty array (its element shape is unknown and matches any).
    Array(Option<Box<Shape>>),
    Object(BTreeMap<String, Shape>),
}

fn shape(v: &Value) -> Shape {
    match v {
        Value::Null => Shape::Null,
        Value::Bool(_) => Shape::Bool,
        Value::Number(_) => Shape::Number,
        Value::String(_) => Shape::String,
        Value::Array(items) => {
            let mut shapes = items.iter().map(shape);
            let first = shapes.next();
            if let Some(first) = &first {
                for other in shapes {
                    assert!(
                        compatible(first, &other).is_ok(),
                        "mixed array elements in {v}"
                    );
                }
            }
            Shape::Array(first.map(Box::new))
        }
        Value::Object(map) => {
            Shape::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
    }
}

/// `Ok` when the shapes match key for key; otherwise the path of the first difference.
fn compatible(a: &Shape, b: &Shape) -> Result<(), String> {
    match (a, b) {
        (Shape::Array(None), Shape::Array(_)) | (Shape::Array(_), Shape::Array(None)) => Ok(()),
        (Shape::Array(Some(x)), Shape::Array(Some(y))) => {
            compatible(x, y).map_err(|p| format!("[]{p}"))
        }
        (Shape::Object(x), Shape::Object(y)) => {
            let xk: Vec<_> = x.keys().collect();
            let yk: Vec<_> = y.keys().collect();
            if xk != yk {
                return Err(format!(": keys {xk:?} vs {yk:?}"));
            }
            for (k, xs) in x {
                compatible(xs, &y[k]).map_err(|p| format!(".{k}{p}"))?;
            }
            Ok(())
        }
        (x, y) if x == y => Ok(()),
        (x, y) => Err(format!(": {x:?} vs {y:?}")),
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

#[tokio::test]
async fn success_structure_matches_the_vendor_example_key_for_key() {
    let vendor = fixture("vendor_success.json");
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    for masked in [true, false] {
        let (_, image) = image_for(42, |t| t.masked = masked);
        let ours = client.recognise(&image).await;
        if let Err(path) = compatible(&shape(&vendor), &shape(&ours)) {
            panic!("structure differs at $ {path}\nours: {ours:#}");
        }
    }
}

#[tokio::test]
async fn failure_structure_matches_the_vendor_example_key_for_key() {
    let vendor = fixture("vendor_failure.json");
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    for recognition in [Recognition::Error, Recognition::Failure] {
        let (_, image) = image_for(43, |t| t.recognition = recognition);
        let ours = client.recognise(&image).await;
        if let Err(path) = compatible(&shape(&vendor), &shape(&ours)) {
            panic!("structure differs at $ {path}\nours: {ours:#}");
        }
    }
}

#[test]
fn the_comparison_notices_differences() {
    let a = serde_json::json!({"a": [{"x": 1, "y": "s"}], "b": []});
    assert!(
        compatible(
            &shape(&a),
            &shape(&serde_json::json!({"a": [{"x": 2, "y": "t"}], "b": [1]}))
        )
        .is_ok()
    );
    assert!(
        compatible(
            &shape(&a),
            &shape(&serde_json::json!({"a": [{"x": 2}], "b": []}))
        )
        .is_err()
    );
    assert!(
        compatible(
            &shape(&a),
            &shape(&serde_json::json!({"a": [{"x": "2", "y": "t"}], "b": []}))
        )
        .is_err()
    );
    assert!(
        compatible(
            &shape(&a),
            &shape(&serde_json::json!({"a": [], "b": [], "c": 1}))
        )
        .is_err()
    );
}
