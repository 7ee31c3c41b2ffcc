//! Micro benchmarks of the pure core's per-job work: reading a CLOVA answer, normalizing its
//! passport section, and validating an MRZ. `cargo bench -p ocr-common --bench core`.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use ocr_common::clova::parse_response;
use ocr_common::mrz::{DateContext, parse_td3};
use ocr_common::normalize::normalize;

const VENDOR: &[u8] = include_bytes!("../tests/fixtures/vendor_example.json");

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 5, 1).expect("valid date")
}

fn core(c: &mut Criterion) {
    c.bench_function("parse_response (vendor example)", |b| {
        b.iter(|| parse_response(black_box(VENDOR)).expect("parses"))
    });
    let response = parse_response(VENDOR).expect("parses");
    let result = response.images[0]
        .id_card
        .as_ref()
        .and_then(|c| c.result.as_ref())
        .expect("an idCard result");
    let pp = result.pp.as_ref().expect("a pp section");
    c.bench_function("normalize (vendor example)", |b| {
        b.iter(|| normalize(black_box(pp), result.is_confident, today()))
    });
    // ICAO 9303's specimen (a synthetic person, not anyone's data), as `compose_td3` writes it.
    let (line1, line2) = (
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    );
    let ctx = DateContext::new(today());
    c.bench_function("parse_td3 + check digits", |b| {
        b.iter(|| parse_td3(black_box(line1), black_box(line2), &ctx))
    });
}

criterion_group!(benches, core);
criterion_main!(benches);
