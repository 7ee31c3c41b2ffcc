//! Building the vendor-shaped success (HTTP 200) body from an image's [`Truth`].
//!
//! The shape follows the vendor's example response key for key: the envelope, `images[0]` with
//! `uid`, `name`, `inferResult`, `message`, `validationResult`, and for a recognised document
//! `idCard.meta` and `idCard.result.{isConfident, pp | dl, rois, idtype}`. Every field is an
//! array of candidates; `issueCountry` and `authority` carry neither `formatted` nor
//! `maskingPolys`, exactly as in the example. Geometry and confidence scores are deterministic
//! per image (seeded by its digest); only `uid` and `timestamp` change between calls.

use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::stats::Outcome;
use crate::truth::{Noise, Recognition, Truth};

/// The request fields echoed in the answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Echo<'a> {
    pub version: &'a str,
    pub request_id: &'a str,
    pub image_name: &'a str,
}

/// Render the HTTP 200 body for an image, with the outcome it represents.
pub(crate) fn render(truth: &Truth, digest: &[u8; 32], echo: Echo<'_>) -> (Outcome, Vec<u8>) {
    let (outcome, infer_result, message, id_card) = match truth.recognition {
        Recognition::Normal => (
            Outcome::Success,
            "SUCCESS",
            "SUCCESS",
            Some(passport(truth, digest)),
        ),
        Recognition::DriversLicense => (
            Outcome::OtherDocument,
            "SUCCESS",
            "SUCCESS",
            Some(drivers_license(truth, digest)),
        ),
        Recognition::Failure => (Outcome::Failure, "FAILURE", "Recognition failure", None),
        Recognition::Error => (Outcome::Error, "ERROR", "Read page:0 error.", None),
    };
    let envelope = Envelope {
        version: echo.version,
        request_id: echo.request_id,
        timestamp: chrono::Utc::now().timestamp_millis(),
        images: [ImageResult {
            uid: uuid::Uuid::new_v4().simple().to_string(),
            name: echo.image_name,
            infer_result,
            message,
            validation_result: ValidationResult {
                result: "NO_REQUESTED",
            },
            id_card,
        }],
    };
    (outcome, serde_json::to_vec(&envelope).unwrap_or_default())
}

/// The country name printed in a passport's visual zone for an ICAO code (the code itself
/// when unknown).
pub fn nationality_name(code: &str) -> &str {
    match code {
        "KOR" => "REPUBLIC OF KOREA",
        "PRK" => "DEMOCRATIC PEOPLE'S REPUBLIC OF KOREA",
        "USA" => "UNITED STATES OF AMERICA",
        "JPN" => "JAPAN",
        "CHN" => "CHINA",
        "GBR" => "UNITED KINGDOM",
        "D" | "D<<" | "DEU" => "GERMANY",
        "FRA" => "FRANCE",
        "CAN" => "CANADA",
        "AUS" => "AUSTRALIA",
        "VNM" => "VIET NAM",
        "PHL" => "PHILIPPINES",
        "THA" => "THAILAND",
        "UTO" => "UTOPIA",
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// Wire types (field order as in the vendor example).

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    version: &'a str,
    request_id: &'a str,
    timestamp: i64,
    images: [ImageResult<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageResult<'a> {
    uid: String,
    name: &'a str,
    infer_result: &'static str,
    message: &'static str,
    validation_result: ValidationResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_card: Option<IdCard>,
}

#[derive(Serialize)]
struct ValidationResult {
    result: &'static str,
}

#[derive(Serialize)]
struct IdCard {
    meta: Meta,
    result: IdResult,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    estimated_language: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdResult {
    is_confident: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pp: Option<Fields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dl: Option<Fields>,
    rois: Vec<Poly>,
    idtype: &'static str,
}

/// Ordered map of CLOVA field name → candidates.
struct Fields(Vec<(&'static str, Vec<Candidate>)>);

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Fields {
    fn get_mut(&mut self, name: &str) -> Option<&mut Vec<Candidate>> {
        self.0.iter_mut().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    formatted: Option<Formatted>,
    key_text: &'static str,
    confidence_score: f32,
    bounding_polys: Vec<Poly>,
    /// `None`: the key is absent (as for `issueCountry` and `authority` in the example).
    #[serde(skip_serializing_if = "Option::is_none")]
    masking_polys: Option<Vec<Poly>>,
}

#[derive(Serialize, Clone)]
#[serde(untagged)]
enum Formatted {
    Value {
        value: String,
    },
    Date {
        year: String,
        month: String,
        day: String,
    },
}

#[derive(Serialize, Clone, Copy)]
struct Poly {
    vertices: [Vertex; 4],
}

#[derive(Serialize, Clone, Copy)]
struct Vertex {
    x: f32,
    y: f32,
}

// ---------------------------------------------------------------------------------------------
// Geometry and scores.

/// Where a field sits on the vendor example's page (x, y of the top-left corner, line height,
/// width per character), before the per-image shift and scale.
#[derive(Clone, Copy)]
struct Slot {
    x: f32,
    y: f32,
    h: f32,
    char_w: f32,
    /// Fixed width (MRZ lines), overriding `char_w`.
    width: Option<f32>,
}

const fn slot(x: f32, y: f32, h: f32, char_w: f32) -> Slot {
    Slot {
        x,
        y,
        h,
        char_w,
        width: None,
    }
}

struct Page {
    rng: StdRng,
    dx: f32,
    dy: f32,
    scale: f32,
    low_confidence: bool,
}

impl Page {
    fn new(digest: &[u8; 32], low_confidence: bool) -> Page {
        let mut rng = StdRng::from_seed(*digest);
        let dx = rng.random_range(-8.0..8.0);
        let dy = rng.random_range(-8.0..8.0);
        let scale = rng.random_range(0.96..1.04);
        Page {
            rng,
            dx,
            dy,
            scale,
            low_confidence,
        }
    }

    fn point(&self, x: f32, y: f32) -> Vertex {
        Vertex {
            x: self.dx + x * self.scale,
            y: self.dy + y * self.scale,
        }
    }

    fn rect(&self, x0: f32, y0: f32, x1: f32, y1: f32) -> Poly {
        Poly {
            vertices: [
                self.point(x0, y0),
                self.point(x1, y0),
                self.point(x1, y1),
                self.point(x0, y1),
            ],
        }
    }

    fn score(&mut self) -> f32 {
        if self.low_confidence {
            self.rng.random_range(0.25..0.6)
        } else {
            self.rng.random_range(0.9..0.9999)
        }
    }

    fn rois(&self) -> Vec<Poly> {
        vec![Poly {
            vertices: [
                self.point(10.000834, 364.93756),
                self.point(500.2946, 364.6102),
                self.point(501.1391, 692.69543),
                self.point(6.990344, 694.3484),
            ],
        }]
    }

    /// A candidate at `slot` sized for `text`. `formatted: None` and `masking: None` leave the
    /// keys out; `masking: Some(true)` adds a masking polygon around the box.
    fn candidate(
        &mut self,
        slot: Slot,
        text: String,
        formatted: Option<Formatted>,
        masking: Option<bool>,
    ) -> Candidate {
        let chars = text.chars().count().max(1) as f32;
        let w = slot.width.unwrap_or(slot.char_w * chars);
        let (x0, y0, x1, y1) = (slot.x, slot.y, slot.x + w, slot.y + slot.h);
        const PAD: f32 = 1.1233;
        let masking_polys = masking.map(|m| {
            if m {
                vec![self.rect(x0 - PAD, y0 - PAD, x1 + PAD, y1 + PAD)]
            } else {
                Vec::new()
            }
        });
        Candidate {
            text,
            formatted,
            key_text: "",
            confidence_score: self.score(),
            bounding_polys: vec![self.rect(x0, y0, x1, y1)],
            masking_polys,
        }
    }
}

fn value(s: &str) -> Option<Formatted> {
    Some(Formatted::Value { value: s.into() })
}

fn date(d: NaiveDate) -> (String, Option<Formatted>) {
    (
        d.format("%B %-d, %Y").to_string(),
        Some(Formatted::Date {
            year: format!("{:04}", d.year()),
            month: format!("{:02}", d.month()),
            day: format!("{:02}", d.day()),
        }),
    )
}

/// Replace every non-space character after the first `keep` ones with `*`.
fn mask_tail(s: &str, keep: usize) -> String {
    let mut seen = 0;
    s.chars()
        .map(|c| {
            if c == ' ' || c == '<' {
                c
            } else {
                seen += 1;
                if seen > keep { '*' } else { c }
            }
        })
        .collect()
}

fn mask_range(line: &str, range: std::ops::Range<usize>) -> String {
    line.chars()
        .enumerate()
        .map(|(i, c)| {
            if range.contains(&i) && c != '<' {
                '*'
            } else {
                c
            }
        })
        .collect()
}

/// Mask the given names inside MRZ line 1 after their first three letters.
fn mask_mrz1(line: &str) -> String {
    let Some(sep) = line.get(5..).and_then(|rest| rest.find("<<")) else {
        return line.to_string();
    };
    let start = 5 + sep + 2;
    let (head, given) = line.split_at(start.min(line.len()));
    format!("{head}{}", mask_tail(given, 3))
}

// ---------------------------------------------------------------------------------------------
// Passport.

const TYPE: Slot = slot(187.23215, 428.7616, 11.23394, 9.673_66);
const ISSUE_COUNTRY: Slot = slot(234.04018, 428.7616, 11.23394, 8.945_54);
const NUM: Slot = slot(327.65625, 428.7616, 11.23394, 7.558_63);
const SURNAME: Slot = slot(187.23215, 454.97412, 11.85803, 9.205_58);
const GIVEN_NAME: Slot = slot(187.23215, 481.8107, 11.85806, 7.756_76);
const NATIONALITY: Slot = slot(187.74973, 568.4555, 10.32885, 3.344_09);
const BIRTH_DATE: Slot = slot(186.60803, 534.8598, 13.10626, 5.0);
const SEX: Slot = slot(187.23215, 558.57587, 6.86523, 16.85089);
const ISSUE_DATE: Slot = slot(187.23215, 594.7741, 10.6098, 5.0);
const EXPIRE_DATE: Slot = slot(328.28036, 594.15, 11.2339, 5.0);
const AUTHORITY: Slot = slot(328.28036, 569.8098, 8.1134, 1.687_40);
const FULL_NAME_KOR: Slot = slot(186.60803, 506.775, 15.6027, 12.274_11);
const MRZ1: Slot = Slot {
    width: Some(452.4777),
    ..slot(32.45357, 638.4616, 12.4821, 0.0)
};
const MRZ2: Slot = Slot {
    width: Some(454.3499),
    ..slot(31.829464, 663.42584, 14.35446, 0.0)
};

fn passport(truth: &Truth, digest: &[u8; 32]) -> IdCard {
    let mut page = Page::new(digest, truth.low_confidence);
    let masked = truth.masked;
    let (mrz1, mrz2) = truth.mrz_lines();
    let (mrz1, mrz2) = if masked {
        let mut personal = 28..42;
        if truth.personal_number.is_empty() {
            personal = 0..0;
        }
        let l2 = mask_range(&mask_range(&mask_range(&mrz2, 5..9), 13..19), personal);
        (mask_mrz1(&mrz1), l2)
    } else {
        (mrz1, mrz2)
    };
    let num = if masked {
        mask_tail(&truth.number, 5)
    } else {
        truth.number.clone()
    };
    let given = if masked {
        mask_tail(&truth.given_names, 3)
    } else {
        truth.given_names.clone()
    };
    let kor = if masked {
        mask_tail(&truth.full_name_korean, 1)
    } else {
        truth.full_name_korean.clone()
    };
    let nationality = nationality_name(&truth.nationality).to_string();
    let (birth, birth_f) = date(truth.birth_date);
    let (issue, issue_f) = date(truth.issue_date);
    let (expire, expire_f) = date(truth.expiry_date);

    let m = Some(masked);
    let clear = Some(false);
    let mut fields = Fields(vec![
        (
            "type",
            vec![page.candidate(
                TYPE,
                truth.document_code.clone(),
                value(&truth.document_code),
                clear,
            )],
        ),
        (
            "issueCountry",
            vec![page.candidate(ISSUE_COUNTRY, truth.issuing_country.clone(), None, None)],
        ),
        (
            "num",
            vec![page.candidate(NUM, num.clone(), value(&num), m)],
        ),
        (
            "surName",
            vec![page.candidate(SURNAME, truth.surname.clone(), value(&truth.surname), clear)],
        ),
        (
            "givenName",
            vec![page.candidate(GIVEN_NAME, given.clone(), value(&given), m)],
        ),
        (
            "nationality",
            vec![page.candidate(NATIONALITY, nationality.clone(), value(&nationality), clear)],
        ),
        (
            "birthDate",
            vec![page.candidate(BIRTH_DATE, birth, birth_f, clear)],
        ),
        (
            "sex",
            vec![page.candidate(SEX, truth.sex.clone(), value(&truth.sex), clear)],
        ),
        (
            "issueDate",
            vec![page.candidate(ISSUE_DATE, issue, issue_f, clear)],
        ),
        (
            "expireDate",
            vec![page.candidate(EXPIRE_DATE, expire, expire_f, clear)],
        ),
        (
            "authority",
            vec![page.candidate(AUTHORITY, truth.authority.clone(), None, None)],
        ),
        (
            "fullNameKor",
            vec![page.candidate(FULL_NAME_KOR, kor.clone(), value(&kor), m)],
        ),
        (
            "mrz1",
            vec![page.candidate(MRZ1, mrz1.clone(), value(&mrz1), m)],
        ),
        (
            "mrz2",
            vec![page.candidate(MRZ2, mrz2.clone(), value(&mrz2), m)],
        ),
    ]);
    apply_noise(&mut fields, &truth.noise);
    IdCard {
        meta: Meta {
            estimated_language: "ko",
        },
        result: IdResult {
            is_confident: !truth.low_confidence,
            pp: Some(fields),
            dl: None,
            rois: page.rois(),
            idtype: "Passport",
        },
    }
}

fn apply_noise(fields: &mut Fields, noise: &[Noise]) {
    // Character-level noise first, then extra candidates (built from the noisy reading),
    // then missing fields.
    for n in noise {
        match n {
            Noise::SexText => {
                if let Some(c) = fields.get_mut("sex").and_then(|v| v.first_mut()) {
                    c.text = format!("{} んだ", c.text);
                }
            }
            Noise::MrzConfusion {
                line,
                position,
                with,
            } => {
                let name = if *line == 1 { "mrz1" } else { "mrz2" };
                if let Some(c) = fields.get_mut(name).and_then(|v| v.first_mut()) {
                    c.text = replace_at(&c.text, *position, *with);
                    if let Some(Formatted::Value { value }) = &mut c.formatted {
                        *value = replace_at(value, *position, *with);
                    }
                }
            }
            Noise::MissingField { .. } | Noise::ExtraCandidates { .. } => {}
        }
    }
    for n in noise {
        if let Noise::ExtraCandidates { field } = n
            && let Some(v) = fields.get_mut(field)
            && let Some(right) = v.first()
        {
            let wrong = corrupt(right);
            v.insert(0, wrong);
        }
    }
    for n in noise {
        if let Noise::MissingField { field } = n {
            fields.0.retain(|(k, _)| k != field);
        }
    }
}

fn replace_at(s: &str, position: usize, with: char) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| if i == position { with } else { c })
        .collect()
}

fn confuse(c: char) -> Option<char> {
    Some(match c {
        'O' => '0',
        '0' => 'O',
        'I' => '1',
        '1' => 'I',
        'S' => '5',
        '5' => 'S',
        'B' => '8',
        '8' => 'B',
        'Z' => '2',
        '2' => 'Z',
        'G' => '6',
        '6' => 'G',
        'M' => 'N',
        'N' => 'M',
        'F' => 'E',
        'E' => 'F',
        _ => return None,
    })
}

fn confuse_digit(c: char) -> char {
    match c {
        '0' => '8',
        '1' => '7',
        '2' => '3',
        '3' => '8',
        '4' => '9',
        '5' => '6',
        '6' => '5',
        '7' => '1',
        '8' => '3',
        _ => '4',
    }
}

/// A plausible wrong reading of `right`, scoring lower.
fn corrupt(right: &Candidate) -> Candidate {
    let mut wrong = right.clone();
    wrong.confidence_score = (right.confidence_score - 0.3).max(0.05);
    match &mut wrong.formatted {
        Some(Formatted::Date { year, .. }) => {
            let old = year.clone();
            let mut chars: Vec<char> = old.chars().collect();
            if let Some(last) = chars.last_mut() {
                *last = confuse_digit(*last);
            }
            *year = chars.into_iter().collect();
            wrong.text = wrong.text.replace(&old, year);
        }
        formatted => {
            let text = &right.text;
            let noisy = match text
                .char_indices()
                .find_map(|(i, c)| confuse(c).map(|d| (i, d)))
            {
                Some((i, d)) => {
                    let mut s = text.clone();
                    s.replace_range(i..i + 1, d.encode_utf8(&mut [0; 4]));
                    s
                }
                None if text.chars().count() > 1 => {
                    let mut s = text.clone();
                    s.pop();
                    s
                }
                None => format!("{text}1"),
            };
            if let Some(Formatted::Value { value }) = formatted {
                *value = noisy.clone();
            }
            wrong.text = noisy;
        }
    }
    wrong
}

// ---------------------------------------------------------------------------------------------
// Driver's license (another document type).

fn drivers_license(truth: &Truth, digest: &[u8; 32]) -> IdCard {
    let mut page = Page::new(digest, truth.low_confidence);
    let region = page.rng.random_range(11..29u32);
    let num = format!(
        "{region:02}-{:02}-{:06}-{:02}",
        page.rng.random_range(0..100u32),
        page.rng.random_range(0..1_000_000u32),
        page.rng.random_range(0..100u32)
    );
    let personal = format!(
        "{}-{}******",
        truth.birth_date.format("%y%m%d"),
        if truth.sex == "F" { '2' } else { '1' }
    );
    let issue = truth.issue_date.format("%Y.%m.%d").to_string();
    let issue_f = date(truth.issue_date).1;
    let clear = Some(false);
    let fields = Fields(vec![
        (
            "type",
            vec![page.candidate(TYPE, "1종보통".into(), value("1종보통"), clear)],
        ),
        (
            "num",
            vec![page.candidate(NUM, num.clone(), value(&num), clear)],
        ),
        (
            "name",
            vec![page.candidate(
                SURNAME,
                truth.full_name_korean.clone(),
                value(&truth.full_name_korean),
                clear,
            )],
        ),
        (
            "personalNum",
            vec![page.candidate(GIVEN_NAME, personal.clone(), value(&personal), Some(true))],
        ),
        (
            "address",
            vec![page.candidate(
                NATIONALITY,
                "서울특별시 종로구 세종대로 209".into(),
                value("서울특별시 종로구 세종대로 209"),
                clear,
            )],
        ),
        (
            "issueDate",
            vec![page.candidate(ISSUE_DATE, issue, issue_f, clear)],
        ),
        (
            "authority",
            vec![page.candidate(AUTHORITY, "서울특별시경찰청장".into(), None, None)],
        ),
    ]);
    IdCard {
        meta: Meta {
            estimated_language: "ko",
        },
        result: IdResult {
            is_confident: !truth.low_confidence,
            pp: None,
            dl: Some(fields),
            rois: page.rois(),
            idtype: "Driver's License",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocr_common::mrz::check_digit;
    use serde_json::Value;

    fn body(truth: &Truth) -> Value {
        let echo = Echo {
            version: "V2",
            request_id: "r1",
            image_name: "img",
        };
        let (_, bytes) = render(truth, &[7; 32], echo);
        serde_json::from_slice(&bytes).unwrap()
    }

    fn pp(v: &Value) -> &Value {
        &v["images"][0]["idCard"]["result"]["pp"]
    }

    #[test]
    fn normal_passport_fields_and_valid_mrz() {
        let truth = Truth::synthetic(1);
        let v = body(&truth);
        let pp = pp(&v);
        assert_eq!(pp["num"][0]["text"], truth.number.as_str());
        assert_eq!(pp["nationality"][0]["text"], "REPUBLIC OF KOREA");
        let l2 = pp["mrz2"][0]["formatted"]["value"].as_str().unwrap();
        assert_eq!(l2.len(), 44);
        let cd = |s: &str| char::from(b'0' + check_digit(s).unwrap());
        assert_eq!(l2.chars().nth(9), Some(cd(&l2[0..9])));
        assert!(pp["issueCountry"][0].get("formatted").is_none());
        assert!(pp["issueCountry"][0].get("maskingPolys").is_none());
        assert_eq!(v["images"][0]["idCard"]["result"]["idtype"], "Passport");
    }

    #[test]
    fn masking_and_noise() {
        let mut truth = Truth::synthetic(2);
        truth.masked = true;
        truth.noise = vec![
            Noise::SexText,
            Noise::MissingField {
                field: "issueDate".into(),
            },
            Noise::ExtraCandidates {
                field: "mrz1".into(),
            },
            Noise::ExtraCandidates {
                field: "birthDate".into(),
            },
        ];
        let v = body(&truth);
        let pp = pp(&v);
        assert!(pp["num"][0]["text"].as_str().unwrap().ends_with("****"));
        assert!(!pp["num"][0]["maskingPolys"].as_array().unwrap().is_empty());
        assert!(pp["sex"][0]["text"].as_str().unwrap().ends_with(" んだ"));
        assert_eq!(pp["sex"][0]["formatted"]["value"], truth.sex.as_str());
        assert!(pp.get("issueDate").is_none());
        assert_eq!(pp["mrz1"].as_array().unwrap().len(), 2);
        assert_ne!(pp["mrz1"][0]["text"], pp["mrz1"][1]["text"]);
        let b = pp["birthDate"].as_array().unwrap();
        assert_ne!(b[0]["formatted"]["year"], b[1]["formatted"]["year"]);
        assert!(b[0]["confidenceScore"].as_f64() < b[1]["confidenceScore"].as_f64());
    }

    #[test]
    fn mask_helpers() {
        assert_eq!(mask_tail("M123A4567", 5), "M123A****");
        assert_eq!(mask_tail("GILDONG", 3), "GIL****");
        assert_eq!(mask_tail("홍길동", 1), "홍**");
        assert_eq!(
            mask_mrz1("PMKORHONG<<GILDONG<<<<<<<<<<<<<<<<<<<<<<<<<<"),
            "PMKORHONG<<GIL****<<<<<<<<<<<<<<<<<<<<<<<<<<"
        );
    }
}
