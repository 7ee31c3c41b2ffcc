//! Helpers shared by the emulator integration tests: test images, a small HTTP client for the
//! OCR endpoint and the admin API.
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine;
use ocr_infra::emulator::{RunningEmulator, Stats};
use ocr_infra::truth::{Truth, embed};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A 2x2 grey PNG.
pub fn tiny_png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 2, 2);
    enc.set_color(png::ColorType::Grayscale);
    let mut w = enc.write_header().expect("png header");
    w.write_image_data(&[0, 255, 255, 0]).expect("png data");
    drop(w);
    out
}

/// A tiny PNG carrying `truth`.
pub fn image_with(truth: &Truth) -> Vec<u8> {
    embed(&tiny_png(), truth).expect("embed truth")
}

/// A PNG carrying `Truth::synthetic(seed)` modified by `f`.
pub fn image_for(seed: u64, f: impl FnOnce(&mut Truth)) -> (Truth, Vec<u8>) {
    let mut truth = Truth::synthetic(seed);
    f(&mut truth);
    let image = image_with(&truth);
    (truth, image)
}

/// A valid JSON-mode body for `image`.
pub fn json_body(image: &[u8]) -> Value {
    json!({
        "version": "V2",
        "requestId": "req-1",
        "timestamp": 1_725_412_120_101_i64,
        "images": [{
            "format": "png",
            "name": "passport_test",
            "data": base64::engine::general_purpose::STANDARD.encode(image),
        }]
    })
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Assert a vendor error answer with this status and code; returns the body.
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        let body = self.json();
        assert_eq!(body["code"], code, "body: {}", self.text);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(body["traceId"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(
            body["timestamp"]
                .as_i64()
                .is_some_and(|t| t > 1_600_000_000_000)
        );
        assert!(body["path"].as_str().is_some());
        assert_eq!(body.as_object().map(|o| o.len()), Some(5), "{body}");
        body
    }

    /// Assert HTTP 200 and return the JSON body.
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text);
        self.json()
    }
}

/// A client bound to one emulator.
pub struct Client<'a> {
    pub emu: &'a RunningEmulator,
    pub http: reqwest::Client,
}

impl<'a> Client<'a> {
    pub fn new(emu: &'a RunningEmulator) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Client { emu, http }
    }

    async fn answer(resp: reqwest::Response) -> Answer {
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.expect("body");
        Answer {
            status,
            content_type,
            text,
        }
    }

    /// POST a JSON body to the id-card endpoint with the right secret.
    pub async fn post_json(&self, body: &Value) -> Answer {
        self.try_post_json(body).await.expect("request")
    }

    /// Like [`Client::post_json`] but returns transport errors.
    pub async fn try_post_json(&self, body: &Value) -> reqwest::Result<Answer> {
        let resp = self
            .http
            .post(self.emu.endpoint_url())
            .header("X-OCR-SECRET", self.emu.secret())
            .json(body)
            .send()
            .await?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await?;
        Ok(Answer {
            status,
            content_type,
            text,
        })
    }

    /// POST raw bytes with explicit headers to any path.
    pub async fn post_raw(
        &self,
        url: &str,
        secret: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut req = self.http.post(url).body(body);
        if let Some(s) = secret {
            req = req.header("X-OCR-SECRET", s);
        }
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        Self::answer(req.send().await.expect("request")).await
    }

    /// POST a multipart body (`message` part, optional `file` part).
    pub async fn post_multipart(&self, message: Option<&Value>, file: Option<Vec<u8>>) -> Answer {
        let mut form = reqwest::multipart::Form::new();
        if let Some(m) = message {
            form = form.text("message", m.to_string());
        }
        if let Some(f) = file {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(f).file_name("passport_test.png"),
            );
        }
        let resp = self
            .http
            .post(self.emu.endpoint_url())
            .header("X-OCR-SECRET", self.emu.secret())
            .multipart(form)
            .send()
            .await
            .expect("request");
        Self::answer(resp).await
    }

    /// Recognise `image` in JSON mode and return the 200 body.
    pub async fn recognise(&self, image: &[u8]) -> Value {
        self.post_json(&json_body(image)).await.ok()
    }

    pub async fn stats(&self) -> Stats {
        self.http
            .get(format!("{}/stats", self.emu.admin_url()))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }

    /// PUT a partial configuration; returns (status, body).
    pub async fn configure(&self, patch: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .put(format!("{}/config", self.emu.admin_url()))
            .json(&patch)
            .send()
            .await
            .expect("config");
        let status = resp.status();
        (status, resp.json().await.expect("config json"))
    }

    pub async fn admin_post(&self, what: &str) -> StatusCode {
        self.http
            .post(format!("{}/{what}", self.emu.admin_url()))
            .send()
            .await
            .expect("admin")
            .status()
    }

    /// Wait (polling the stats, bounded) until `pred` holds.
    pub async fn wait_until(&self, pred: impl Fn(&Stats) -> bool) -> Stats {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.stats().await;
            if pred(&s) {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition never held: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// `pp` of a success body.
pub fn pp(body: &Value) -> &Value {
    &body["images"][0]["idCard"]["result"]["pp"]
}

/// The best candidate's `formatted.value` (or text) of a `pp` field.
pub fn value_of<'v>(body: &'v Value, field: &str) -> &'v str {
    let c = &pp(body)[field][0];
    c["formatted"]["value"]
        .as_str()
        .or_else(|| c["text"].as_str())
        .unwrap_or_else(|| panic!("no {field} in {body}"))
}
