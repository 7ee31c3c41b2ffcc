//! Contract tests: the emulator over real HTTP answers every documented status, code and body,
//! in both request modes, for every scenario the ground truth can ask for.

mod emulator_support;

use base64::Engine;
use emulator_support::{Client, image_for, json_body, pp, sha256_hex, tiny_png, value_of};
use ocr_common::mrz::check_digit;
use ocr_infra::emulator::{EmulatorConfig, spawn};
use ocr_infra::truth::{Noise, Recognition, Truth};
use serde_json::{Value, json};

fn cd(s: &str) -> char {
    char::from(b'0' + check_digit(s).expect("MRZ alphabet"))
}

/// Every ICAO 9303 TD3 check digit of line 2 is right.
fn assert_td3_line2_valid(l2: &str) {
    assert_eq!(l2.len(), 44, "{l2}");
    assert_eq!(
        l2.chars().nth(9),
        Some(cd(&l2[0..9])),
        "number check digit: {l2}"
    );
    assert_eq!(
        l2.chars().nth(19),
        Some(cd(&l2[13..19])),
        "birth check digit: {l2}"
    );
    assert_eq!(
        l2.chars().nth(27),
        Some(cd(&l2[21..27])),
        "expiry check digit: {l2}"
    );
    let personal = &l2[28..42];
    let pcd = l2.chars().nth(42).unwrap();
    if personal.chars().all(|c| c == '<') {
        assert!(pcd == '<' || pcd == '0', "{l2}");
    } else {
        assert_eq!(pcd, cd(personal), "personal number check digit: {l2}");
    }
    let composite = format!("{}{}{}", &l2[0..10], &l2[13..20], &l2[21..43]);
    assert_eq!(
        l2.chars().nth(43),
        Some(cd(&composite)),
        "composite check digit: {l2}"
    );
}

#[tokio::test]
async fn json_mode_success_echoes_request_and_describes_the_passport() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let (truth, image) = image_for(11, |_| {});
    let answer = client.post_json(&json_body(&image)).await;
    assert!(answer.content_type.starts_with("application/json"));
    let body = answer.ok();
    assert_eq!(body["version"], "V2");
    assert_eq!(body["requestId"], "req-1");
    assert!(body["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    let img = &body["images"][0];
    assert_eq!(body["images"].as_array().unwrap().len(), 1);
    assert!(!img["uid"].as_str().unwrap().is_empty());
    assert_eq!(img["name"], "passport_test");
    assert_eq!(img["inferResult"], "SUCCESS");
    assert_eq!(img["message"], "SUCCESS");
    assert_eq!(img["validationResult"]["result"], "NO_REQUESTED");
    assert_eq!(img["idCard"]["meta"]["estimatedLanguage"], "ko");
    let result = &img["idCard"]["result"];
    assert_eq!(result["isConfident"], true);
    assert_eq!(result["idtype"], "Passport");
    assert_eq!(result["rois"][0]["vertices"].as_array().unwrap().len(), 4);

    assert_eq!(value_of(&body, "type"), truth.document_code);
    assert_eq!(value_of(&body, "issueCountry"), truth.issuing_country);
    assert_eq!(value_of(&body, "num"), truth.number);
    assert_eq!(value_of(&body, "surName"), truth.surname);
    assert_eq!(value_of(&body, "givenName"), truth.given_names);
    assert_eq!(value_of(&body, "nationality"), "REPUBLIC OF KOREA");
    assert_eq!(value_of(&body, "sex"), truth.sex);
    assert_eq!(value_of(&body, "authority"), truth.authority);
    assert_eq!(value_of(&body, "fullNameKor"), truth.full_name_korean);
    let birth = &pp(&body)["birthDate"][0];
    assert_eq!(
        birth["text"],
        truth.birth_date.format("%B %-d, %Y").to_string()
    );
    assert_eq!(
        birth["formatted"]["year"],
        truth.birth_date.format("%Y").to_string()
    );
    assert_eq!(
        birth["formatted"]["month"],
        truth.birth_date.format("%m").to_string()
    );
    assert_eq!(
        birth["formatted"]["day"],
        truth.birth_date.format("%d").to_string()
    );
    assert_eq!(
        pp(&body)["expireDate"][0]["formatted"]["year"],
        truth.expiry_date.format("%Y").to_string()
    );
    for (name, candidates) in pp(&body).as_object().unwrap() {
        let c = &candidates[0];
        let score = c["confidenceScore"].as_f64().unwrap();
        assert!((0.9..=1.0).contains(&score), "{name}: {score}");
        assert_eq!(c["keyText"], "", "{name}");
        assert_eq!(
            c["boundingPolys"][0]["vertices"].as_array().unwrap().len(),
            4
        );
    }
    let (l1, l2) = truth.mrz_lines();
    assert_eq!(value_of(&body, "mrz1"), l1);
    assert_eq!(value_of(&body, "mrz2"), l2);
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn multipart_mode_success() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let (truth, image) = image_for(12, |_| {});
    let message = json!({"version": "V2", "requestId": "mp-1", "timestamp": 0,
        "images": [{"format": "png", "name": "passport_test"}]});
    let body = client
        .post_multipart(Some(&message), Some(image.clone()))
        .await
        .ok();
    assert_eq!(body["requestId"], "mp-1");
    assert_eq!(body["images"][0]["inferResult"], "SUCCESS");
    assert_eq!(value_of(&body, "num"), truth.number);
    // Same image in JSON mode: same recognition (only uid/timestamp differ).
    let json_mode = client.recognise(&image).await;
    assert_eq!(pp(&body), pp(&json_mode));
    let stats = client.stats().await;
    assert_eq!(stats.billed_for(&sha256_hex(&image)), 2);
}

#[tokio::test]
async fn secret_missing_or_wrong_is_401_0002() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let body = serde_json::to_vec(&json_body(&tiny_png())).unwrap();
    let url = emu.endpoint_url();
    for secret in [None, Some("wrong"), Some("")] {
        let answer = client
            .post_raw(&url, secret, Some("application/json"), body.clone())
            .await;
        let err = answer.assert_error(401, "0002");
        assert_eq!(err["message"], "Secret key validate failed.");
        assert_eq!(err["path"], "/custom/v1/demo/local/document/id-card");
    }
    assert_eq!(client.stats().await.billed_total, 0);
}

#[tokio::test]
async fn unknown_path_is_400_0001() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let body = serde_json::to_vec(&json_body(&tiny_png())).unwrap();
    let base = emu.base_url();
    for path in [
        "/custom/v1/demo/wrong-key/document/id-card",
        "/custom/v1/other/local/document/id-card",
        "/custom/v1/demo/local/document/passport",
        "/custom/v1/demo/local",
        "/",
    ] {
        let answer = client
            .post_raw(
                &format!("{base}{path}"),
                Some(emu.secret()),
                Some("application/json"),
                body.clone(),
            )
            .await;
        let err = answer.assert_error(400, "0001");
        assert_eq!(err["message"], "URL is invalid.");
        assert_eq!(err["path"], path);
    }
    // Wrong method on the right path.
    let resp = client.http.get(emu.endpoint_url()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["code"], "0001");
    assert_eq!(client.stats().await.rejected("0001"), 6);
}

#[tokio::test]
async fn invalid_bodies_are_400_0011() {
    let config = EmulatorConfig {
        max_image_bytes: 4096,
        ..EmulatorConfig::default()
    };
    let emu = spawn(config).await.unwrap();
    let client = Client::new(&emu);
    let image = tiny_png();
    let good = json_body(&image);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let cases: Vec<(&str, Value)> = vec![
        (
            "no images",
            with(&|v| {
                v.as_object_mut().unwrap().remove("images");
            }),
        ),
        ("empty images", with(&|v| v["images"] = json!([]))),
        (
            "two images",
            with(&|v| {
                let one = v["images"][0].clone();
                v["images"] = json!([one.clone(), one]);
            }),
        ),
        ("images not an array", with(&|v| v["images"] = json!("x"))),
        (
            "bad base64",
            with(&|v| v["images"][0]["data"] = json!("%%%not base64%%%")),
        ),
        ("empty data", with(&|v| v["images"][0]["data"] = json!(""))),
        (
            "no data",
            with(&|v| {
                v["images"][0].as_object_mut().unwrap().remove("data");
            }),
        ),
        (
            "unsupported format",
            with(&|v| v["images"][0]["format"] = json!("gif")),
        ),
        (
            "no format",
            with(&|v| {
                v["images"][0].as_object_mut().unwrap().remove("format");
            }),
        ),
        (
            "no name",
            with(&|v| {
                v["images"][0].as_object_mut().unwrap().remove("name");
            }),
        ),
        (
            "oversize image",
            with(&|v| v["images"][0]["data"] = json!(b64(&vec![7u8; 4097]))),
        ),
        (
            "no requestId",
            with(&|v| {
                v.as_object_mut().unwrap().remove("requestId");
            }),
        ),
        ("numeric requestId", with(&|v| v["requestId"] = json!(5))),
        (
            "no timestamp",
            with(&|v| {
                v.as_object_mut().unwrap().remove("timestamp");
            }),
        ),
        ("string timestamp", with(&|v| v["timestamp"] = json!("now"))),
        ("body is an array", json!([1, 2])),
    ];
    for (what, body) in &cases {
        let answer = client.post_json(body).await;
        let err = answer.assert_error(400, "0011");
        assert_eq!(err["message"], "Request body invalid.", "{what}");
    }
    // Exactly at the cap is fine.
    client
        .post_json(&with(&|v| {
            v["images"][0]["data"] = json!(b64(&vec![7u8; 4096]))
        }))
        .await
        .ok();
    // Not JSON at all, wrong content type, no content type.
    let url = emu.endpoint_url();
    let secret = Some(emu.secret());
    client
        .post_raw(
            &url,
            secret,
            Some("application/json"),
            b"{not json".to_vec(),
        )
        .await
        .assert_error(400, "0011");
    client
        .post_raw(
            &url,
            secret,
            Some("text/plain"),
            serde_json::to_vec(&good).unwrap(),
        )
        .await
        .assert_error(400, "0011");
    client
        .post_raw(&url, secret, None, serde_json::to_vec(&good).unwrap())
        .await
        .assert_error(400, "0011");
    client
        .post_raw(
            &url,
            secret,
            Some("multipart/form-data"),
            b"garbage".to_vec(),
        )
        .await
        .assert_error(400, "0011");
    // Multipart without file, without message, with a bad message, oversize file.
    let message = json!({"version": "V2", "requestId": "m", "timestamp": 0,
        "images": [{"format": "png", "name": "x"}]});
    client
        .post_multipart(Some(&message), None)
        .await
        .assert_error(400, "0011");
    client
        .post_multipart(None, Some(image.clone()))
        .await
        .assert_error(400, "0011");
    let no_version =
        json!({"requestId": "m", "timestamp": 0, "images": [{"format": "png", "name": "x"}]});
    client
        .post_multipart(Some(&no_version), Some(image.clone()))
        .await
        .assert_error(400, "0011");
    client
        .post_multipart(Some(&message), Some(vec![1u8; 4097]))
        .await
        .assert_error(400, "0011");
    // An invalid truth chunk in the image is the sender's mistake.
    let png = tiny_png();
    let chunk = b"passport-truth\0\0\0\0\0{not json";
    let mut bad_truth = png[..33].to_vec(); // signature + IHDR
    bad_truth.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
    bad_truth.extend_from_slice(b"iTXt");
    bad_truth.extend_from_slice(chunk);
    bad_truth.extend_from_slice(&[0, 0, 0, 0]); // CRC (not checked by the reader)
    bad_truth.extend_from_slice(&png[33..]);
    client
        .post_json(&json_body(&bad_truth))
        .await
        .assert_error(400, "0011");

    let stats = client.stats().await;
    assert_eq!(stats.billed_total, 1, "rejected calls are never billed");
    assert_eq!(stats.rejected("0011"), cases.len() as u64 + 9);
}

#[tokio::test]
async fn version_other_than_v2_is_400_0021_in_both_modes() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let image = tiny_png();
    for version in ["V1", "v2", "V3", ""] {
        let mut body = json_body(&image);
        body["version"] = json!(version);
        let err = client.post_json(&body).await.assert_error(400, "0021");
        assert_eq!(err["message"], "Protocol version not support.");
        let message = json!({"version": version, "requestId": "m", "timestamp": 0,
            "images": [{"format": "png", "name": "x"}]});
        client
            .post_multipart(Some(&message), Some(image.clone()))
            .await
            .assert_error(400, "0021");
    }
    // JSON mode: version is optional.
    let mut body = json_body(&image);
    body.as_object_mut().unwrap().remove("version");
    assert_eq!(
        client.post_json(&body).await.ok()["images"][0]["inferResult"],
        "SUCCESS"
    );
}

#[tokio::test]
async fn every_accepted_format_and_unpadded_base64() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let image = tiny_png();
    for format in ["jpg", "jpeg", "png", "pdf", "tif", "tiff", "PNG"] {
        let mut body = json_body(&image);
        body["images"][0]["format"] = json!(format);
        client.post_json(&body).await.ok();
    }
    let mut body = json_body(b"ab");
    body["images"][0]["data"] =
        json!(base64::engine::general_purpose::STANDARD_NO_PAD.encode(b"ab"));
    client.post_json(&body).await.ok();
}

#[tokio::test]
async fn scenario_failure_and_error() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let (_, failure) = image_for(21, |t| t.recognition = Recognition::Failure);
    let body = client.recognise(&failure).await;
    let img = &body["images"][0];
    assert_eq!(img["inferResult"], "FAILURE");
    assert_eq!(img["message"], "Recognition failure");
    assert_eq!(img["validationResult"]["result"], "NO_REQUESTED");
    assert!(img.get("idCard").is_none());

    let (_, error) = image_for(22, |t| t.recognition = Recognition::Error);
    let body = client.recognise(&error).await;
    assert_eq!(body["images"][0]["inferResult"], "ERROR");
    assert_eq!(body["images"][0]["message"], "Read page:0 error.");
    assert!(body["images"][0].get("idCard").is_none());

    let stats = client.stats().await;
    assert_eq!(stats.outcome("failure"), 1);
    assert_eq!(stats.outcome("error"), 1);
    assert_eq!(stats.billed_total, 2);
}

#[tokio::test]
async fn scenario_drivers_license() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let (truth, image) = image_for(23, |t| t.recognition = Recognition::DriversLicense);
    let body = client.recognise(&image).await;
    let result = &body["images"][0]["idCard"]["result"];
    assert_eq!(body["images"][0]["inferResult"], "SUCCESS");
    assert_eq!(result["idtype"], "Driver's License");
    assert!(result.get("pp").is_none());
    assert_eq!(
        result["dl"]["name"][0]["text"],
        truth.full_name_korean.as_str()
    );
    assert!(result["dl"]["num"][0]["text"].is_string());
    assert_eq!(client.stats().await.outcome("other_document"), 1);
}

#[tokio::test]
async fn scenario_low_confidence() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let (_, image) = image_for(24, |t| t.low_confidence = true);
    let body = client.recognise(&image).await;
    assert_eq!(body["images"][0]["idCard"]["result"]["isConfident"], false);
    for (name, c) in pp(&body).as_object().unwrap() {
        let score = c[0]["confidenceScore"].as_f64().unwrap();
        assert!(score < 0.7, "{name}: {score}");
    }
}

#[tokio::test]
async fn scenario_noise() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let (truth, image) = image_for(25, |t| {
        t.noise = vec![
            Noise::SexText,
            Noise::MrzConfusion {
                line: 1,
                position: 3,
                with: '0',
            },
            Noise::MrzConfusion {
                line: 2,
                position: 0,
                with: '1',
            },
            Noise::MissingField {
                field: "issueDate".into(),
            },
            Noise::ExtraCandidates {
                field: "num".into(),
            },
        ]
    });
    let body = client.recognise(&image).await;
    let pp = pp(&body);
    // Sex text with junk, clean formatted value (as in the vendor example).
    assert_eq!(pp["sex"][0]["text"], format!("{} んだ", truth.sex));
    assert_eq!(pp["sex"][0]["formatted"]["value"], truth.sex.as_str());
    // O/0 and I/1 confusions in the MRZ.
    let (l1, l2) = truth.mrz_lines();
    let got1 = pp["mrz1"][0]["formatted"]["value"].as_str().unwrap();
    let got2 = pp["mrz2"][0]["text"].as_str().unwrap();
    assert_eq!(&l1[3..4], "O");
    assert_eq!(got1, format!("{}0{}", &l1[..3], &l1[4..]));
    assert_eq!(got2, format!("1{}", &l2[1..]));
    // Missing field.
    assert!(pp.get("issueDate").is_none());
    assert!(pp.get("expireDate").is_some());
    // Extra, worse candidate first.
    let num = pp["num"].as_array().unwrap();
    assert_eq!(num.len(), 2);
    assert_ne!(num[0]["text"], truth.number.as_str());
    assert_eq!(num[1]["text"], truth.number.as_str());
    assert!(num[0]["confidenceScore"].as_f64() < num[1]["confidenceScore"].as_f64());
}

#[tokio::test]
async fn scenario_masked_like_the_vendor_example() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let (truth, image) = image_for(26, |t| {
        t.number = "M123A4567".into();
        t.surname = "HONG".into();
        t.given_names = "GILDONG".into();
        t.full_name_korean = "홍길동".into();
        t.masked = true;
    });
    let body = client.recognise(&image).await;
    let pp = pp(&body);
    assert_eq!(pp["num"][0]["text"], "M123A****");
    assert_eq!(pp["num"][0]["formatted"]["value"], "M123A****");
    assert_eq!(pp["givenName"][0]["text"], "GIL****");
    assert_eq!(pp["fullNameKor"][0]["text"], "홍**");
    assert_eq!(pp["surName"][0]["text"], "HONG");
    let mrz1 = pp["mrz1"][0]["text"].as_str().unwrap();
    assert!(mrz1.starts_with("PMKORHONG<<GIL****<"), "{mrz1}");
    let mrz2 = pp["mrz2"][0]["text"].as_str().unwrap();
    assert!(mrz2.starts_with("M123A****"), "{mrz2}");
    for field in ["num", "givenName", "fullNameKor", "mrz1", "mrz2"] {
        assert!(
            !pp[field][0]["maskingPolys"].as_array().unwrap().is_empty(),
            "{field} has masking polygons"
        );
    }
    assert!(
        pp["surName"][0]["maskingPolys"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(truth.masked);
}

#[tokio::test]
async fn mrz_check_digits_are_valid_icao_9303() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    for seed in 0..40u64 {
        let (truth, image) = image_for(seed, |t| {
            if seed % 4 == 0 {
                t.personal_number = format!("{:07}", seed * 7919);
            }
            if seed % 5 == 0 {
                t.sex = "X".into();
            }
        });
        let body = client.recognise(&image).await;
        let l1 = value_of(&body, "mrz1");
        let l2 = value_of(&body, "mrz2");
        assert_eq!(l1.len(), 44);
        assert!(l1.starts_with(&format!("PM{}{}<<", truth.issuing_country, truth.surname)));
        assert!(l2.starts_with(&truth.number));
        assert_td3_line2_valid(l2);
        // The text reading agrees with the formatted one when there is no noise.
        assert_eq!(pp(&body)["mrz2"][0]["text"].as_str().unwrap(), l2);
    }
    // Images without embedded truth get a derived, stable passport with valid MRZ too.
    for i in 0..10u8 {
        let bytes = vec![i; 100 + usize::from(i)];
        let body = client.recognise(&bytes).await;
        assert_td3_line2_valid(value_of(&body, "mrz2"));
        let truth = Truth::of_image(&bytes).unwrap();
        assert_eq!(value_of(&body, "num"), truth.number);
    }
}

#[tokio::test]
async fn billing_counts_calls_per_image_digest() {
    let emu = spawn(EmulatorConfig::default()).await.unwrap();
    let client = Client::new(&emu);
    let (_, a) = image_for(31, |_| {});
    let (_, b) = image_for(32, |_| {});
    client.recognise(&a).await;
    client.recognise(&b).await;
    client.recognise(&b).await;
    let mut bad = json_body(&a);
    bad["version"] = json!("V1");
    client.post_json(&bad).await.assert_error(400, "0021");
    let stats = client.stats().await;
    assert_eq!(stats.billed_total, 3);
    assert_eq!(stats.billed_for(&sha256_hex(&a)), 1);
    assert_eq!(stats.billed_for(&sha256_hex(&b)), 2);
    assert_eq!(stats.digests_billed_more_than_once, 1);
    assert_eq!(stats.requests_total, 4);
    assert_eq!(stats.outcome("success"), 3);
    assert_eq!(stats.rejected("0021"), 1);
}
