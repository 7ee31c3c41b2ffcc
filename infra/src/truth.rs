//! Ground truth carried inside a sample image.
//!
//! The emulator cannot read pixels, so an image tells it what it "shows": a JSON document in a
//! PNG `iTXt` chunk or a JPEG `COM` segment, under the keyword [`TRUTH_KEYWORD`]. The same JSON
//! can ask for a scenario (recognition failure, another document type, OCR noise, masking, low
//! confidence). An image without truth gets [`Truth::synthetic`] seeded from its bytes, so the
//! same bytes always get the same answer.

use chrono::{Datelike, NaiveDate};
use ocr_common::mrz::{Td3Fields, compose_td3};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Keyword of the PNG `iTXt` chunk, and prefix (followed by `:`) of the JPEG `COM` segment.
pub const TRUTH_KEYWORD: &str = "passport-truth";

/// What a sample passport image shows, and how the emulator should answer for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// MRZ document code, e.g. `PM`.
    pub document_code: String,
    /// Issuing state code, e.g. `KOR`.
    pub issuing_country: String,
    /// Passport number, e.g. `M12345678`.
    pub number: String,
    /// Surname, upper-case Latin.
    pub surname: String,
    /// Given names, upper-case Latin, single spaces.
    pub given_names: String,
    /// Nationality code, e.g. `KOR` (the visual zone prints the country *name*).
    pub nationality: String,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// `M`, `F` or `X`.
    pub sex: String,
    /// Date of issue.
    pub issue_date: NaiveDate,
    /// Date of expiry.
    pub expiry_date: NaiveDate,
    /// Issuing authority as printed.
    pub authority: String,
    /// Full name in Hangul.
    pub full_name_korean: String,
    /// Optional MRZ personal number (empty: none).
    #[serde(default)]
    pub personal_number: String,
    /// How recognition goes for this image.
    #[serde(default)]
    pub recognition: Recognition,
    /// Answer with `isConfident: false` and low confidence scores.
    #[serde(default)]
    pub low_confidence: bool,
    /// Mask the number, given names, Korean name and MRZ with `*` as the vendor example does.
    #[serde(default)]
    pub masked: bool,
    /// OCR noise to inject into the answer.
    #[serde(default)]
    pub noise: Vec<Noise>,
}

/// How recognition of an image ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recognition {
    /// `inferResult` SUCCESS with a passport.
    #[default]
    Normal,
    /// `inferResult` FAILURE, message "Recognition failure".
    Failure,
    /// `inferResult` ERROR, message "Read page:0 error.".
    Error,
    /// Recognised as a driver's license (`idtype` "Driver's License", section `dl`).
    DriversLicense,
}

/// One kind of OCR noise the emulator injects into an otherwise correct answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Noise {
    /// Sex text with trailing junk as in the vendor example (`"F んだ"`); `formatted` stays clean.
    SexText,
    /// Replace the MRZ character at `position` (0-based) of `line` (1 or 2) with `with`,
    /// e.g. an O/0 or I/1 confusion.
    MrzConfusion {
        /// 1 or 2.
        line: u8,
        /// 0-based column.
        position: usize,
        /// The character OCR "saw".
        with: char,
    },
    /// Leave out a `pp` field entirely (CLOVA name, e.g. `issueDate`).
    MissingField {
        /// CLOVA field name.
        field: String,
    },
    /// Put a worse-scoring wrong candidate *before* the right one for a field (CLOVA name).
    ExtraCandidates {
        /// CLOVA field name.
        field: String,
    },
}

/// Errors reading truth out of an image.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    /// The image carries a truth chunk that is not valid truth JSON.
    #[error("truth chunk is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The image is not a PNG or JPEG we can tag.
    #[error("not a PNG or JPEG image")]
    UnsupportedImage,
    /// The truth JSON is too large for a JPEG comment segment.
    #[error("truth too large for a JPEG comment ({0} bytes)")]
    TooLarge(usize),
}

const SURNAMES: &[(&str, &str)] = &[
    ("KIM", "김"),
    ("LEE", "이"),
    ("PARK", "박"),
    ("CHOI", "최"),
    ("JUNG", "정"),
    ("KANG", "강"),
    ("CHO", "조"),
    ("YOON", "윤"),
    ("JANG", "장"),
    ("LIM", "임"),
    ("HAN", "한"),
    ("OH", "오"),
    ("SEO", "서"),
    ("SHIN", "신"),
    ("KWON", "권"),
    ("HWANG", "황"),
    ("AHN", "안"),
    ("SONG", "송"),
    ("HONG", "홍"),
    ("YOO", "유"),
];

const SYLLABLES: &[(&str, &str)] = &[
    ("MIN", "민"),
    ("JI", "지"),
    ("SEO", "서"),
    ("HYUN", "현"),
    ("JUN", "준"),
    ("YEON", "연"),
    ("WOO", "우"),
    ("SU", "수"),
    ("HA", "하"),
    ("EUN", "은"),
    ("YOUNG", "영"),
    ("JAE", "재"),
    ("HO", "호"),
    ("JIN", "진"),
    ("SUNG", "성"),
    ("HEE", "희"),
    ("GIL", "길"),
    ("DONG", "동"),
];

fn random_date(rng: &mut StdRng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days().max(1);
    from + chrono::Duration::days(rng.random_range(0..span))
}

fn add_years(d: NaiveDate, years: i32) -> NaiveDate {
    d.with_year(d.year() + years)
        .unwrap_or_else(|| d + chrono::Duration::days(365 * i64::from(years)))
}

impl Truth {
    /// The two TD3 MRZ lines (with correct check digits) this passport shows: what the sample
    /// renderer draws and what the emulator reads back.
    pub fn mrz_lines(&self) -> (String, String) {
        let yymmdd = |d: NaiveDate| d.format("%y%m%d").to_string();
        let sex = match self.sex.as_str() {
            "M" => 'M',
            "F" => 'F',
            _ => '<',
        };
        compose_td3(&Td3Fields {
            document_code: self.document_code.clone(),
            issuing_state: self.issuing_country.clone(),
            surname: self.surname.clone(),
            given_names: self.given_names.clone(),
            number: self.number.clone(),
            nationality: self.nationality.clone(),
            birth_yymmdd: yymmdd(self.birth_date),
            sex,
            expiry_yymmdd: yymmdd(self.expiry_date),
            personal_number: self.personal_number.clone(),
        })
    }

    /// A plausible Korean ordinary passport, fully determined by `seed`.
    pub fn synthetic(seed: u64) -> Truth {
        let mut rng = StdRng::seed_from_u64(seed);
        let (sur, sur_ko) = SURNAMES[rng.random_range(0..SURNAMES.len())];
        let (g1, g1_ko) = SYLLABLES[rng.random_range(0..SYLLABLES.len())];
        let (g2, g2_ko) = SYLLABLES[rng.random_range(0..SYLLABLES.len())];
        let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("valid constant date");
        let birth_date = random_date(&mut rng, ymd(1950, 1, 1), ymd(2006, 12, 31));
        let issue_date = random_date(&mut rng, ymd(2016, 1, 1), ymd(2025, 12, 31));
        let number = if rng.random_bool(0.5) {
            format!("M{:08}", rng.random_range(0..100_000_000u32))
        } else {
            format!(
                "M{:03}{}{:04}",
                rng.random_range(0..1000u32),
                char::from(b'A' + rng.random_range(0..26u8)),
                rng.random_range(0..10_000u32)
            )
        };
        Truth {
            document_code: "PM".into(),
            issuing_country: "KOR".into(),
            number,
            surname: sur.into(),
            given_names: format!("{g1}{g2}"),
            nationality: "KOR".into(),
            birth_date,
            sex: if rng.random_bool(0.5) { "M" } else { "F" }.into(),
            issue_date,
            expiry_date: add_years(issue_date, 10),
            authority: "MINISTRY OF FOREIGN AFFAIRS".into(),
            full_name_korean: format!("{sur_ko}{g1_ko}{g2_ko}"),
            personal_number: String::new(),
            recognition: Recognition::Normal,
            low_confidence: false,
            masked: false,
            noise: Vec::new(),
        }
    }

    /// The truth for an image that carries none: [`Truth::synthetic`] seeded by its SHA-256.
    pub fn derived_from_bytes(bytes: &[u8]) -> Truth {
        let digest = Sha256::digest(bytes);
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&digest[..8]);
        Truth::synthetic(u64::from_le_bytes(seed))
    }

    /// The truth an image shows: embedded if present and valid, otherwise derived from its bytes.
    /// An embedded chunk that is not valid JSON is an error (the sender asked for something).
    pub fn of_image(bytes: &[u8]) -> Result<Truth, TruthError> {
        match extract(bytes) {
            Some(json) => Ok(serde_json::from_slice(json)?),
            None => Ok(Truth::derived_from_bytes(bytes)),
        }
    }
}

const PNG_SIG: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The raw truth JSON embedded in a PNG or JPEG, if any. Never panics on any input.
pub fn extract(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.starts_with(PNG_SIG) {
        extract_png(bytes)
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        extract_jpeg(bytes)
    } else {
        None
    }
}

fn extract_png(bytes: &[u8]) -> Option<&[u8]> {
    let mut pos = PNG_SIG.len();
    while pos + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().ok()?) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let data = bytes.get(pos + 8..pos.checked_add(8)?.checked_add(len)?)?;
        match kind {
            b"iTXt" | b"tEXt" => {
                let kw_end = data.iter().position(|&b| b == 0)?;
                if &data[..kw_end] == TRUTH_KEYWORD.as_bytes() {
                    if kind == b"tEXt" {
                        return Some(&data[kw_end + 1..]);
                    }
                    // keyword\0 compression_flag compression_method language\0 translated\0 text
                    let rest = data.get(kw_end + 1..)?;
                    if rest.first().copied()? != 0 {
                        return None; // compressed truth is not supported
                    }
                    let rest = rest.get(2..)?;
                    let lang_end = rest.iter().position(|&b| b == 0)?;
                    let rest = &rest[lang_end + 1..];
                    let tr_end = rest.iter().position(|&b| b == 0)?;
                    return Some(&rest[tr_end + 1..]);
                }
            }
            b"IDAT" | b"IEND" => return None,
            _ => {}
        }
        pos = pos + 12 + len;
    }
    None
}

fn extract_jpeg(bytes: &[u8]) -> Option<&[u8]> {
    let prefix = format!("{TRUTH_KEYWORD}:");
    let mut pos = 2;
    while pos + 4 <= bytes.len() {
        if bytes[pos] != 0xFF {
            return None;
        }
        let marker = bytes[pos + 1];
        if marker == 0xDA || marker == 0xD9 {
            return None; // start of scan / end of image: no more metadata
        }
        let len = u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]) as usize;
        if len < 2 {
            return None;
        }
        let data = bytes.get(pos + 4..pos + 2 + len)?;
        if marker == 0xFE && data.starts_with(prefix.as_bytes()) {
            return Some(&data[prefix.len()..]);
        }
        pos += 2 + len;
    }
    None
}

/// Return `image` (PNG or JPEG) with `truth` embedded right after the header.
pub fn embed(image: &[u8], truth: &Truth) -> Result<Vec<u8>, TruthError> {
    let json = serde_json::to_vec(truth)?;
    if image.starts_with(PNG_SIG) {
        // iTXt: keyword \0, compression flag 0, method 0, empty language \0, empty translated \0.
        let mut data = Vec::with_capacity(json.len() + TRUTH_KEYWORD.len() + 5);
        data.extend_from_slice(TRUTH_KEYWORD.as_bytes());
        data.extend_from_slice(&[0, 0, 0, 0, 0]);
        data.extend_from_slice(&json);
        let ihdr_end = PNG_SIG.len() + 8 + 13 + 4;
        if image.len() < ihdr_end {
            return Err(TruthError::UnsupportedImage);
        }
        let mut out = Vec::with_capacity(image.len() + data.len() + 12);
        out.extend_from_slice(&image[..ihdr_end]);
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(b"iTXt");
        crc.update(&data);
        out.extend_from_slice(b"iTXt");
        out.extend_from_slice(&data);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
        out.extend_from_slice(&image[ihdr_end..]);
        Ok(out)
    } else if image.starts_with(&[0xFF, 0xD8]) {
        let payload_len = TRUTH_KEYWORD.len() + 1 + json.len();
        if payload_len + 2 > usize::from(u16::MAX) {
            return Err(TruthError::TooLarge(payload_len));
        }
        let mut out = Vec::with_capacity(image.len() + payload_len + 4);
        out.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xFE]);
        out.extend_from_slice(&((payload_len + 2) as u16).to_be_bytes());
        out.extend_from_slice(TRUTH_KEYWORD.as_bytes());
        out.push(b':');
        out.extend_from_slice(&json);
        out.extend_from_slice(&image[2..]);
        Ok(out)
    } else {
        Err(TruthError::UnsupportedImage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_png() -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, 2, 2);
        enc.set_color(png::ColorType::Grayscale);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[0, 255, 255, 0]).unwrap();
        drop(w);
        out
    }

    #[test]
    fn png_round_trip_and_still_decodes() {
        let truth = Truth::synthetic(7);
        let tagged = embed(&tiny_png(), &truth).unwrap();
        assert_eq!(Truth::of_image(&tagged).unwrap(), truth);
        let img = image::load_from_memory(&tagged).unwrap();
        assert_eq!(img.width(), 2);
    }

    #[test]
    fn jpeg_round_trip_and_still_decodes() {
        let img = image::DynamicImage::new_luma8(8, 8);
        let mut jpg = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut jpg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
        let mut truth = Truth::synthetic(9);
        truth.noise.push(Noise::SexText);
        let tagged = embed(&jpg, &truth).unwrap();
        assert_eq!(Truth::of_image(&tagged).unwrap(), truth);
        assert!(image::load_from_memory(&tagged).is_ok());
    }

    #[test]
    fn untagged_bytes_get_a_stable_derived_truth() {
        let a = Truth::of_image(b"some bytes").unwrap();
        assert_eq!(a, Truth::of_image(b"some bytes").unwrap());
        assert_ne!(a, Truth::of_image(b"other bytes").unwrap());
        assert!(a.birth_date < a.issue_date && a.issue_date < a.expiry_date);
    }

    #[test]
    fn garbage_never_panics() {
        for bytes in [
            &b""[..],
            PNG_SIG,
            b"\x89PNG\r\n\x1a\n\xff\xff\xff\xffiTXt",
            &[0xFF, 0xD8, 0xFF, 0xFE, 0x00],
            &[0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x01],
        ] {
            let _ = Truth::of_image(bytes);
        }
    }
}
