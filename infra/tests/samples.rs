//! Tests of the synthetic passport sample generator (`ocr_infra::samples`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use ocr_common::mrz::{Td3Fields, compose_td3};
use ocr_infra::samples::{
    FormatMix, GenerateOptions, MANIFEST_FILE, Manifest, SampleError, SampleFormat, generate,
    render,
};
use ocr_infra::truth::{Recognition, Truth};
use sha2::{Digest, Sha256};

/// A fresh, empty directory under cargo's per-target temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("samples-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every manifest entry matches its file: size, digest, embedded truth, decodable.
fn check_files(dir: &Path, manifest: &Manifest) {
    let mut digests = HashSet::new();
    for e in &manifest.entries {
        let bytes = std::fs::read(dir.join(&e.file)).unwrap();
        assert_eq!(bytes.len() as u64, e.bytes, "{}", e.file);
        assert_eq!(hex::encode(Sha256::digest(&bytes)), e.sha256, "{}", e.file);
        assert!(
            digests.insert(e.sha256.clone()),
            "duplicate bytes: {}",
            e.file
        );
        assert_eq!(Truth::of_image(&bytes).unwrap(), e.truth, "{}", e.file);
        let expected = match e.format {
            SampleFormat::Png => image::ImageFormat::Png,
            SampleFormat::Jpeg => image::ImageFormat::Jpeg,
        };
        assert_eq!(image::guess_format(&bytes).unwrap(), expected, "{}", e.file);
        let img = image::load_from_memory(&bytes).unwrap();
        assert!(
            img.width() > img.height() && img.height() >= 600,
            "{}",
            e.file
        );
    }
}

#[test]
fn render_lands_near_the_target_size_for_both_formats() {
    let truth = Truth::synthetic(42);
    for format in [SampleFormat::Png, SampleFormat::Jpeg] {
        for target in [100_000usize, 2_000_000] {
            let bytes = render(&truth, format, Some(target)).unwrap();
            let ratio = bytes.len() as f64 / target as f64;
            assert!(
                (0.85..=1.15).contains(&ratio),
                "{format} at {target}: got {} bytes",
                bytes.len()
            );
            assert_eq!(Truth::of_image(&bytes).unwrap(), truth);
            let img = image::load_from_memory(&bytes).unwrap();
            // Aspect ratio of a TD3 data page (125 x 88 mm).
            let aspect = f64::from(img.width()) / f64::from(img.height());
            assert!((aspect - 125.0 / 88.0).abs() < 0.01, "aspect {aspect}");
        }
    }
}

#[test]
fn fast_mode_writes_distinct_files_and_a_manifest_that_round_trips() {
    let dir = scratch("fast");
    let mut opts = GenerateOptions::new(40, &dir);
    opts.scenarios = true;
    let manifest = generate(&opts).unwrap();
    assert_eq!(manifest.entries.len(), 40);
    assert_eq!(manifest.entries[0].file, "passport-000001.png");
    assert_eq!(manifest.entries[1].file, "passport-000002.jpg");
    assert_eq!(manifest.entries[1].format, SampleFormat::Jpeg);
    check_files(&dir, &manifest);

    let read = Manifest::read(&dir.join(MANIFEST_FILE)).unwrap();
    assert_eq!(read, manifest);
    let json = serde_json::to_value(&manifest).unwrap();
    assert_eq!(json["entries"][0]["format"], "png");
    assert_eq!(json["entries"][1]["format"], "jpeg");

    // Scenarios: every 4th image, all kinds present in 32 images; the rest are normal.
    let t: Vec<&Truth> = manifest.entries.iter().map(|e| &e.truth).collect();
    let scenario = |x: &Truth| {
        x.recognition != Recognition::Normal || x.low_confidence || x.masked || !x.noise.is_empty()
    };
    for (i, x) in t.iter().enumerate() {
        assert_eq!(scenario(x), i % 4 == 3, "image {i}");
    }
    for r in [
        Recognition::Failure,
        Recognition::Error,
        Recognition::DriversLicense,
    ] {
        assert!(t.iter().any(|x| x.recognition == r), "{r:?} missing");
    }
    assert!(t.iter().any(|x| x.low_confidence));
    assert!(t.iter().any(|x| x.masked));
    assert!(t.iter().filter(|x| !x.noise.is_empty()).count() >= 3);

    // Deterministic: the same options write the same files.
    let again = generate(&opts).unwrap();
    assert_eq!(again, manifest);
}

#[test]
fn size_ranges_hold_in_fast_and_distinct_modes() {
    // Fast mode, both formats: shared pages spread over the range.
    let dir = scratch("range-fast");
    let mut opts = GenerateOptions::new(4, &dir);
    opts.size = Some((300_000, 600_000));
    opts.seed = 7;
    let manifest = generate(&opts).unwrap();
    for e in &manifest.entries {
        assert!(
            (300_000..=600_000).contains(&e.bytes),
            "{}: {}",
            e.file,
            e.bytes
        );
    }
    check_files(&dir, &manifest);

    // Distinct pixels around 100 KB, both formats: every image really differs.
    let dir = scratch("range-100kb");
    let mut opts = GenerateOptions::new(4, &dir);
    opts.size = Some((90_000, 120_000));
    opts.distinct_pixels = true;
    let manifest = generate(&opts).unwrap();
    for e in &manifest.entries {
        assert!(
            (90_000..=120_000).contains(&e.bytes),
            "{}: {}",
            e.file,
            e.bytes
        );
    }
    check_files(&dir, &manifest);
    let pixels: HashSet<Vec<u8>> = manifest
        .entries
        .iter()
        .map(|e| {
            let bytes = std::fs::read(dir.join(&e.file)).unwrap();
            image::load_from_memory(&bytes)
                .unwrap()
                .to_rgb8()
                .into_raw()
        })
        .collect();
    assert_eq!(pixels.len(), 4);
}

#[test]
fn single_format_runs_use_that_format() {
    for (mix, ext) in [(FormatMix::Png, "png"), (FormatMix::Jpeg, "jpg")] {
        let dir = scratch(ext);
        let mut opts = GenerateOptions::new(3, &dir);
        opts.formats = mix;
        let manifest = generate(&opts).unwrap();
        assert!(manifest.entries.iter().all(|e| e.file.ends_with(ext)));
        check_files(&dir, &manifest);
    }
}

#[test]
fn bad_options_are_errors_not_panics() {
    let dir = scratch("bad");
    let invalid = |opts: GenerateOptions| {
        assert!(
            matches!(generate(&opts), Err(SampleError::InvalidOptions(_))),
            "{opts:?}"
        );
    };
    invalid(GenerateOptions::new(0, &dir));
    let mut o = GenerateOptions::new(1, &dir);
    o.size = Some((2_000_000, 1_000_000));
    invalid(o.clone());
    o.size = Some((10, 100_000));
    invalid(o.clone());
    o.size = Some((100_000, usize::MAX));
    invalid(o);
    let t = Truth::synthetic(1);
    for target in [0, 1000, usize::MAX] {
        assert!(matches!(
            render(&t, SampleFormat::Png, Some(target)),
            Err(SampleError::InvalidOptions(_))
        ));
    }
    // Nothing was written for rejected options.
    assert!(!dir.join(MANIFEST_FILE).exists());
}

#[test]
fn drawn_mrz_is_the_icao_composition_of_the_truth() {
    for seed in 0..50 {
        let t = Truth::synthetic(seed);
        let (l1, l2) = t.mrz_lines();
        let expected = compose_td3(&Td3Fields {
            document_code: t.document_code.clone(),
            issuing_state: t.issuing_country.clone(),
            surname: t.surname.clone(),
            given_names: t.given_names.clone(),
            number: t.number.clone(),
            nationality: t.nationality.clone(),
            birth_yymmdd: t.birth_date.format("%y%m%d").to_string(),
            sex: t.sex.chars().next().unwrap(),
            expiry_yymmdd: t.expiry_date.format("%y%m%d").to_string(),
            personal_number: t.personal_number.clone(),
        });
        assert_eq!((l1.clone(), l2.clone()), expected);
        assert_eq!((l1.len(), l2.len()), (44, 44));
        assert!(l1.starts_with(&format!("PMKOR{}<<", t.surname)));
        assert!(l2.starts_with(&t.number));
    }
}

/// Opt-in: when `tesseract` is installed, OCR of the MRZ band reads the MRZ.
#[test]
fn tesseract_reads_the_mrz_when_installed() {
    let available = std::process::Command::new("tesseract")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        println!("note: tesseract not installed; skipping the MRZ OCR check");
        return;
    }
    let t = Truth::synthetic(3);
    let bytes = render(&t, SampleFormat::Png, None).unwrap();
    let img = image::load_from_memory(&bytes).unwrap().to_luma8();
    // The MRZ band is the bottom 20 mm of the 88 mm page.
    let top = img.height() * 68 / 88;
    let band = image::imageops::crop_imm(&img, 0, top, img.width(), img.height() - top).to_image();
    let dir = scratch("tesseract");
    let path = dir.join("mrz.png");
    band.save(&path).unwrap();
    let out = std::process::Command::new("tesseract")
        .arg(&path)
        .arg("stdout")
        .args(["--psm", "6", "-c"])
        .arg("tessedit_char_whitelist=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace([' ', '\r'], "");
    let (l1, l2) = t.mrz_lines();
    let lines: Vec<&str> = text.lines().filter(|l| l.len() > 20).collect();
    assert_eq!(lines.len(), 2, "tesseract read {text:?}");
    // Tesseract without MRZ training miscounts long `<` runs, so compare the data characters
    // (fillers removed) position by position and allow a few misreads (0/D and the like).
    let data = |s: &str| s.chars().filter(|&c| c != '<').collect::<Vec<char>>();
    for (got, want) in lines.iter().zip([&l1, &l2]) {
        let (g, w) = (data(got), data(want));
        let same = g.iter().zip(&w).filter(|(a, b)| a == b).count();
        assert!(
            g.len().abs_diff(w.len()) <= 1 && same * 100 >= w.len() * 85,
            "tesseract read {got:?}, MRZ is {want:?}"
        );
    }
}
