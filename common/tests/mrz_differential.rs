//! Differential test of the MRZ verdict against an independent oracle (issue 11).
//!
//! The oracle below is written from ICAO Doc 9303 Part 3/4 alone: its own character values,
//! its own 7-3-1 sum, its own field layout and format rules. It shares no code with
//! `ocr_common::mrz` (the only things taken from the crate are `normalize` and the JSON it
//! serializes, which is what a consumer sees). `scripts/mrz-oracle/` cross-checks this oracle's
//! check digits against the pinned PyPI `mrz` package.
//!
//! Cases are generated from a seeded generator (deterministic): valid lines (random issuers,
//! Korean numbers of both formats, the ICAO/German/Dutch specimens), one random substitution at a
//! check-digit-covered position, one OCR confusion anywhere, a random substitution plus a
//! confusion, two random substitutions, and random substitutions in fields no check digit covers
//! (reported separately: no MRZ-only rule can see them). Each case also gets a visual-zone
//! number: the true one, masked, absent, or itself misread.
//!
//! `MRZ_SOAK_CASES` sets the number of cases (default 3000, CI), `MRZ_SOAK_SEED` the seed.
//! `MRZ_ORACLE_DUMP=<file>` also writes every line pair as read with the oracle's five
//! check-digit verdicts, for `scripts/mrz-oracle/crosscheck.py` (PyPI `mrz`).
//! Soak: `MRZ_SOAK_CASES=1050000 cargo test -p ocr-common --release --test mrz_differential
//! -- --nocapture`.

mod oracle;

use chrono::NaiveDate;
use ocr_common::clova::PassportFields;
use ocr_common::normalize::normalize;
use oracle::{
    oracle_cd_char, oracle_hashes, oracle_partner, oracle_valid, oracle_value, same_document,
};
use serde_json::{Value, json};
use std::io::Write;

// ------------------------------------------------------------------ deterministic generator

/// SplitMix64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";
const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<";

fn random_string(rng: &mut Rng, from: &[u8], len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.pick(from)).collect()
}

fn pad(mut v: Vec<u8>, len: usize) -> Vec<u8> {
    v.truncate(len);
    v.resize(len, b'<');
    v
}

fn yymmdd(rng: &mut Rng, from_year: i32, years: i32) -> Vec<u8> {
    let from = NaiveDate::from_ymd_opt(from_year, 1, 1).unwrap();
    let d = from + chrono::Duration::days(rng.below((years * 365) as usize) as i64);
    d.format("%y%m%d").to_string().into_bytes()
}

/// Korean passport numbers: `M` + 8 digits (older; the letter also `S`, `R`, `G`, `D`) or
/// `M` + 3 digits + a letter + 4 digits (next-generation, from December 2021).
fn korean_number(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(50) {
        let mut n = vec![rng.pick(b"MSRGD")];
        n.extend(random_string(rng, DIGITS, 8));
        n
    } else {
        let mut n = vec![b'M'];
        n.extend(random_string(rng, DIGITS, 3));
        n.push(rng.pick(LETTERS));
        n.extend(random_string(rng, DIGITS, 4));
        n
    }
}

/// A valid TD3 pair, composed with the oracle's own check digits.
fn valid_pair(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let korean = rng.chance(50);
    let state: Vec<u8> = if korean {
        b"KOR".to_vec()
    } else {
        match rng.below(4) {
            0 => b"UTO".to_vec(),
            1 => b"D<<".to_vec(),
            _ => random_string(rng, LETTERS, 3),
        }
    };
    let mut l1 = vec![
        b'P',
        if korean {
            b'M'
        } else {
            rng.pick(b"<<<ABCDMOS")
        },
    ];
    l1.extend_from_slice(&state);
    let mut name = Vec::new();
    for w in 0..=rng.below(2) {
        if w > 0 {
            name.push(b'<');
        }
        let n = 2 + rng.below(8);
        name.extend(random_string(rng, LETTERS, n));
    }
    name.extend_from_slice(b"<<");
    for w in 0..rng.below(3) {
        if w > 0 {
            name.push(b'<');
        }
        let n = 2 + rng.below(8);
        name.extend(random_string(rng, LETTERS, n));
    }
    l1.extend(pad(name, 39));

    let number = if korean {
        korean_number(rng)
    } else {
        let n = 1 + rng.below(9);
        pad(random_string(rng, ALNUM, n), 9)
    };
    let nationality = if korean {
        b"KOR".to_vec()
    } else {
        state.clone()
    };
    let birth = yymmdd(rng, 1930, 95);
    let expiry = yymmdd(rng, 2014, 22);
    let personal = if rng.chance(50) {
        vec![b'<'; 14]
    } else {
        let n = 1 + rng.below(14);
        pad(random_string(rng, ALNUM, n), 14)
    };
    let mut l2 = Vec::with_capacity(44);
    l2.extend_from_slice(&number);
    l2.push(oracle_cd_char(&number));
    l2.extend_from_slice(&nationality);
    l2.extend_from_slice(&birth);
    l2.push(oracle_cd_char(&birth));
    l2.push(rng.pick(b"MF<"));
    l2.extend_from_slice(&expiry);
    l2.push(oracle_cd_char(&expiry));
    l2.extend_from_slice(&personal);
    if personal.iter().all(|b| *b == b'<') {
        l2.push(b'<');
    } else {
        l2.push(oracle_cd_char(&personal));
    }
    let mut composite = l2[0..10].to_vec();
    composite.extend_from_slice(&l2[13..20]);
    composite.extend_from_slice(&l2[21..43]);
    l2.push(oracle_cd_char(&composite));
    assert!(oracle_valid(&l1, &l2), "generator");
    (l1, l2)
}

/// ICAO Doc 9303 Part 4 (Utopia), BSI (Germany, 2017 model), Rijksoverheid (Netherlands, 2014).
const SPECIMENS: [(&str, &str); 3] = [
    (
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ),
    (
        "P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<",
        "C01X00T478D<<6408125F2702283<<<<<<<<<<<<<<<4",
    ),
    (
        "P<NLDDE<BRUIJN<<WILLEKE<LISELOTTE<<<<<<<<<<<",
        "SPECI20142NLD6503101F2401151999999990<<<<<82",
    ),
];

/// Line-2 positions covered by a check digit (check digits included).
fn covered() -> Vec<usize> {
    (0..10).chain(13..20).chain(21..44).collect()
}

/// Positions no check digit covers: all of line 1, nationality and sex.
fn uncovered() -> Vec<(usize, usize)> {
    (0..44)
        .map(|p| (1, p))
        .chain((10..13).chain([20]).map(|p| (2, p)))
        .collect()
}

/// A random substitution that is not an OCR confusion: a different character, not the partner.
fn random_sub(rng: &mut Rng, orig: u8) -> u8 {
    loop {
        let c = rng.pick(ALPHABET);
        if c != orig && oracle_partner(orig) != Some(c) {
            return c;
        }
    }
}

/// A confusion somewhere in either line, avoiding `avoid`; `None` if the pair has none.
fn confusion_at(
    rng: &mut Rng,
    l1: &[u8],
    l2: &[u8],
    avoid: Option<(usize, usize)>,
) -> Option<(usize, usize)> {
    let spots: Vec<(usize, usize)> = l1
        .iter()
        .enumerate()
        .map(|(p, b)| (1, p, *b))
        .chain(l2.iter().enumerate().map(|(p, b)| (2, p, *b)))
        .filter(|(l, p, b)| oracle_partner(*b).is_some() && Some((*l, *p)) != avoid)
        .map(|(l, p, _)| (l, p))
        .collect();
    (!spots.is_empty()).then(|| rng.pick(&spots))
}

fn set(l1: &mut [u8], l2: &mut [u8], (line, pos): (usize, usize), to: u8) {
    if line == 1 {
        l1[pos] = to;
    } else {
        l2[pos] = to;
    }
}

fn confuse(l1: &mut [u8], l2: &mut [u8], at: (usize, usize)) {
    let b = if at.0 == 1 { l1[at.1] } else { l2[at.1] };
    set(l1, l2, at, oracle_partner(b).unwrap());
}

// ------------------------------------------------------------------ classifying a confusion

/// Korean number positions (0-based) whose type both known formats fix: 0 a kind letter
/// (`M`, `S`, `R`, `G`, `D`), 1-3 and 5-8 digits. Position 4 is open (a digit in the older
/// format, a letter in the newer).
const KOR_FIXED: [usize; 8] = [0, 1, 2, 3, 5, 6, 7, 8];

/// Whether a confusion swap between `a` and `b` changes a 7-3-1 check digit.
fn visible(a: u8, b: u8) -> bool {
    !(oracle_value(a).unwrap() + 40 - oracle_value(b).unwrap()).is_multiple_of(10)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfusionKind {
    /// The ICAO field type fixes the position (dates, check digits, codes, names).
    Forced,
    /// A Korean document-number position fixed by both known formats, provable.
    IssuerForced,
    /// A Korean fixed position, but the open position 5 holds a confusable character whose
    /// swap changes the check digit, so a compensating second error cannot be excluded.
    IssuerUnprovable,
    /// The check digit cannot see the swap (`6`/`G`): the line as read passes.
    Invisible,
    /// Document number or personal number position no format fixes.
    Open,
}

fn classify(
    read1: &[u8],
    read2: &[u8],
    truth2: &[u8],
    (line, pos): (usize, usize),
) -> ConfusionKind {
    if line == 1 {
        return ConfusionKind::Forced;
    }
    let field_type_fixed = matches!(pos, 9..=27 | 42 | 43);
    if field_type_fixed {
        return ConfusionKind::Forced;
    }
    if !visible(read2[pos], truth2[pos]) {
        return ConfusionKind::Invisible;
    }
    let korean = &read1[2..5] == b"KOR";
    // The first place is forced only into a kind letter (`5`→`S`, `6`→`G`).
    let kind_letter = pos != 0 || b"MSRGD".contains(&truth2[0]) && read2[0].is_ascii_digit();
    if korean && KOR_FIXED.contains(&pos) && kind_letter {
        let open = read2[4];
        let provable = oracle_partner(open).is_none_or(|p| !visible(open, p));
        return if provable {
            ConfusionKind::IssuerForced
        } else {
            ConfusionKind::IssuerUnprovable
        };
    }
    ConfusionKind::Open
}

/// The type a line-2 position forces, independently of the crate's tables: `Some(true)` digits
/// (dates, check digits, Korean fixed number places), `Some(false)` letters (nationality, the
/// Korean first place), `None` not forced.
fn forced_type(l1: &[u8], pos: usize) -> Option<bool> {
    let korean = l1.get(2..5) == Some(b"KOR");
    match pos {
        9 | 13..=19 | 21..=27 | 42 | 43 => Some(true),
        10..=12 => Some(false),
        0 if korean => Some(false),
        1..=3 | 5..=8 if korean => Some(true),
        _ => None,
    }
}

/// `read` is the valid pair `used` with OCR confusions at forced positions only, each in the
/// direction the position's type forces (a letter read where a digit must be, or the reverse;
/// line 1 holds letters throughout).
fn forced_confusions_of(used1: &[u8], used2: &[u8], read1: &[u8], read2: &[u8]) -> bool {
    if !oracle_valid(used1, used2) || used1.len() != read1.len() || used2.len() != read2.len() {
        return false;
    }
    let forced = |u: u8, r: u8, want_digit: Option<bool>| {
        u == r
            || want_digit.is_some_and(|d| oracle_partner(r) == Some(u) && u.is_ascii_digit() == d)
    };
    used1
        .iter()
        .zip(read1)
        .all(|(u, r)| forced(*u, *r, Some(false)))
        && used2
            .iter()
            .zip(read2)
            .enumerate()
            .all(|(p, (u, r))| forced(*u, *r, forced_type(used1, p)))
}

// ------------------------------------------------------------------ running the worker

/// What the visual zone shows for the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visual {
    True,
    Masked,
    Absent,
    Misread,
}

fn visual_number(rng: &mut Rng, truth2: &[u8]) -> (Visual, Option<String>) {
    let number: String = String::from_utf8_lossy(&truth2[0..9])
        .trim_end_matches('<')
        .to_owned();
    match rng.below(20) {
        0..=9 => (Visual::True, Some(number)),
        10..=13 => {
            let keep: String = number.chars().take(5).collect();
            (Visual::Masked, Some(format!("{keep}****")))
        }
        14..=16 => (Visual::Absent, None),
        _ => {
            let mut b = number.into_bytes();
            let i = rng.below(b.len());
            b[i] = loop {
                let c = rng.pick(ALNUM);
                if c != b[i] {
                    break c;
                }
            };
            (Visual::Misread, Some(String::from_utf8(b).unwrap()))
        }
    }
}

struct Verdict {
    valid: bool,
    valid_after_suggestion: bool,
    line1: Vec<u8>,
    line2: Vec<u8>,
    /// Line 2 with every offered (unconfirmed) suggestion applied as well.
    suggested2: Vec<u8>,
    confirmed: bool,
    rejected: bool,
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 5, 1).unwrap()
}

fn run(l1: &[u8], l2: &[u8], number: Option<&str>) -> Verdict {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut pp = json!({
        "mrz1": [{"text": text(l1)}],
        "mrz2": [{"text": text(l2)}],
    });
    if let Some(n) = number {
        pp["num"] = json!([{ "text": n }]);
    }
    let pp: PassportFields = serde_json::from_value(pp).unwrap();
    let v = serde_json::to_value(normalize(&pp, None, today())).unwrap();
    let line = |k: &str| {
        v.pointer(&format!("/passport/mrz/{k}"))
            .and_then(Value::as_str)
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default()
    };
    let (line1, line2) = (line("line1"), line("line2"));
    let repairs = v["repairs"].as_array().cloned().unwrap_or_default();
    let reason = |r: &Value| r["reason"].as_str().unwrap_or_default().to_owned();
    let mut suggested2 = line2.clone();
    for r in &repairs {
        if reason(r) == "check_digit_suggestion" && r["line"] == json!(2) {
            let pos = r["index"].as_u64().unwrap() as usize;
            suggested2[pos] = r["to"].as_str().unwrap().as_bytes()[0];
        }
    }
    let valid = v["checks"]["mrz_valid"] == json!(true);
    Verdict {
        valid,
        valid_after_suggestion: v["checks"]["mrz_valid_after_suggested_repair"]
            .as_bool()
            .unwrap_or(valid),
        line1,
        line2,
        suggested2,
        confirmed: repairs
            .iter()
            .any(|r| reason(r) == "confirmed_by_visual_zone"),
        rejected: repairs
            .iter()
            .any(|r| reason(r) == "rejected_by_visual_zone"),
    }
}

// ------------------------------------------------------------------ the measure

#[derive(Debug, Default)]
struct Tally {
    cases: u64,
    read_passes_oracle: u64,
    false_valid: u64,
    missed_valid: u64,
    /// Valid with a changed line although the line as read (or, for random + confusion, the
    /// line with only its random error) passes the oracle: no check digit can see it.
    undetectable: u64,
    /// False valids whose line as read is exactly the (oracle-valid) line reported with OCR
    /// confusions at forced positions only: the forced-repair rule must call that valid, and no
    /// reading of the MRZ can tell it from the truth ([`forced_confusions_of`]).
    forced_lookalike: u64,
}

#[derive(Debug, Default)]
struct ConfusionTally {
    forced: u64,
    forced_ok: u64,
    issuer_forced: u64,
    issuer_forced_ok: u64,
    issuer_unprovable: u64,
    issuer_unprovable_suggested_right: u64,
    issuer_unprovable_confirmed: u64,
    invisible: u64,
    open: u64,
    open_suggested_right: u64,
    open_suggested_wrong: u64,
    open_confirmed: u64,
    open_confirmable: u64,
    /// A confirmation that gave a wrong number although the visual number was right.
    confirmed_wrong: u64,
    /// A confirmation that gave a wrong number because the visual number was itself misread
    /// into exactly a wrong alternative (two independent readings agreeing on a wrong value).
    confirmed_wrong_by_misread_visual: u64,
    rejected: u64,
}

const CLASSES: [&str; 7] = [
    "valid",
    "specimen",
    "random (covered)",
    "confusion",
    "random + confusion",
    "two random (covered)",
    "random (no check digit)",
];

#[test]
fn differential_against_independent_oracle() {
    let cases: u64 = std::env::var("MRZ_SOAK_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("MRZ_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    let mut rng = Rng(seed);
    let mut tallies: Vec<Tally> = CLASSES.iter().map(|_| Tally::default()).collect();
    let mut conf = ConfusionTally::default();
    let mut examples: Vec<String> = Vec::new();
    let covered = covered();
    let uncovered = uncovered();
    let mut dump = std::env::var("MRZ_ORACLE_DUMP")
        .ok()
        .map(|p| std::io::BufWriter::new(std::fs::File::create(p).expect("MRZ_ORACLE_DUMP")));

    for i in 0..cases {
        let class = (i % CLASSES.len() as u64) as usize;
        let (t1, t2) = if class == 1 {
            let (a, b) = SPECIMENS[rng.below(SPECIMENS.len())];
            (a.as_bytes().to_vec(), b.as_bytes().to_vec())
        } else {
            valid_pair(&mut rng)
        };
        let (mut r1, mut r2) = (t1.clone(), t2.clone());
        let mut confusion = None;
        // The truth with only the random substitutions: when that passes the oracle, the
        // random error is invisible to every check digit and nothing can detect it.
        let mut random_only: Option<(Vec<u8>, Vec<u8>)> = None;

        match class {
            2 => {
                let p = rng.pick(&covered);
                r2[p] = random_sub(&mut rng, r2[p]);
            }
            3 => {
                let at = confusion_at(&mut rng, &r1, &r2, None).unwrap();
                confuse(&mut r1, &mut r2, at);
                confusion = Some(at);
            }
            1 if rng.chance(50) => {
                let at = confusion_at(&mut rng, &r1, &r2, None).unwrap();
                confuse(&mut r1, &mut r2, at);
            }
            4 => {
                let p = rng.pick(&covered);
                r2[p] = random_sub(&mut rng, r2[p]);
                random_only = Some((r1.clone(), r2.clone()));
                if let Some(at) = confusion_at(&mut rng, &t1, &t2, Some((2, p))) {
                    confuse(&mut r1, &mut r2, at);
                }
            }
            5 => {
                let p = rng.pick(&covered);

                let q = loop {
                    let q = rng.pick(&covered);
                    if q != p {
                        break q;
                    }
                };
                r2[p] = random_sub(&mut rng, r2[p]);
                r2[q] = random_sub(&mut rng, r2[q]);
            }
            6 => {
                let at = rng.pick(&uncovered);
                let orig = if at.0 == 1 { r1[at.1] } else { r2[at.1] };
                set(&mut r1, &mut r2, at, random_sub(&mut rng, orig));
            }
            _ => {}
        }
        if let Some(w) = dump.as_mut()
            && let Some(h) = oracle_hashes(&r2)
            && r1.len() == 44
        {
            let bits: String = h.iter().map(|b| if *b { '1' } else { '0' }).collect();
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            writeln!(w, "{}\t{}\t{bits}", text(&r1), text(&r2)).expect("dump");
        }
        let (visual, number) = visual_number(&mut rng, &t2);
        let v = run(&r1, &r2, number.as_deref());

        let passes = oracle_valid(&r1, &r2);
        let invisible = passes || random_only.is_some_and(|(a, b)| oracle_valid(&a, &b));
        let right = v.line1 == t1 && same_document(&v.line2, &t2);
        let t = &mut tallies[class];
        t.cases += 1;
        t.read_passes_oracle += u64::from(passes);
        if v.valid && !right && !invisible {
            t.false_valid += 1;
            if forced_confusions_of(&v.line1, &v.line2, &r1, &r2) {
                t.forced_lookalike += 1;
            }
            if t.false_valid <= 2 {
                examples.push(format!(
                    "false valid [{}]:\n  truth {} / {}\n  read  {} / {}\n  used  {}",
                    CLASSES[class],
                    String::from_utf8_lossy(&t1),
                    String::from_utf8_lossy(&t2),
                    String::from_utf8_lossy(&r1),
                    String::from_utf8_lossy(&r2),
                    String::from_utf8_lossy(&v.line2)
                ));
            }
        }
        if passes && !v.valid {
            t.missed_valid += 1;
            if t.missed_valid <= 2 {
                examples.push(format!(
                    "missed valid [{}]: read {} / {}",
                    CLASSES[class],
                    String::from_utf8_lossy(&r1),
                    String::from_utf8_lossy(&r2)
                ));
            }
        }
        if v.valid && !right && invisible {
            t.undetectable += 1;
        }
        if v.confirmed && v.line2.get(0..10) != t2.get(0..10) {
            if visual == Visual::Misread {
                conf.confirmed_wrong_by_misread_visual += 1;
            } else {
                conf.confirmed_wrong += 1;
            }
            examples.push(format!(
                "wrong confirmation [{}, visual {visual:?} {number:?}]:\n  truth {}\n  read  {}\n  used  {}",
                CLASSES[class],
                String::from_utf8_lossy(&t2),
                String::from_utf8_lossy(&r2),
                String::from_utf8_lossy(&v.line2)
            ));
        }
        conf.rejected += u64::from(v.rejected);

        let Some(at) = confusion else { continue };
        let suggested_right =
            v.valid_after_suggestion && v.line1 == t1 && same_document(&v.suggested2, &t2);
        match classify(&r1, &r2, &t2, at) {
            ConfusionKind::Forced => {
                conf.forced += 1;
                conf.forced_ok += u64::from(v.valid && right);
            }
            ConfusionKind::IssuerForced => {
                conf.issuer_forced += 1;
                conf.issuer_forced_ok += u64::from(v.valid && right);
            }
            ConfusionKind::IssuerUnprovable => {
                conf.issuer_unprovable += 1;
                conf.issuer_unprovable_suggested_right += u64::from(suggested_right);
                conf.issuer_unprovable_confirmed += u64::from(v.confirmed && right);
            }
            ConfusionKind::Invisible => conf.invisible += 1,
            ConfusionKind::Open => {
                conf.open += 1;
                conf.open_suggested_right += u64::from(suggested_right);
                conf.open_suggested_wrong +=
                    u64::from(v.valid_after_suggestion && !v.valid && !suggested_right);
                conf.open_confirmed += u64::from(v.confirmed && right);
                conf.open_confirmable += u64::from(visual == Visual::True && at.1 < 9);
            }
        }
    }

    println!("MRZ differential: {cases} cases, seed {seed}");
    println!(
        "{:<26} {:>8} {:>12} {:>12} {:>13} {:>13} {:>10}",
        "class", "cases", "read passes", "false valid", "missed valid", "undetectable", "lookalike"
    );
    for (name, t) in CLASSES.iter().zip(&tallies) {
        println!(
            "{:<26} {:>8} {:>12} {:>12} {:>13} {:>13} {:>10}",
            name,
            t.cases,
            t.read_passes_oracle,
            t.false_valid,
            t.missed_valid,
            t.undetectable,
            t.forced_lookalike
        );
    }
    println!("single confusions: {conf:#?}");
    for e in &examples {
        println!("{e}");
    }

    // Every false valid by the literal definition must be a forced-repair lookalike.
    let false_valid: u64 = tallies
        .iter()
        .map(|t| t.false_valid - t.forced_lookalike)
        .sum();
    let missed_valid: u64 = tallies.iter().map(|t| t.missed_valid).sum();
    assert_eq!(
        false_valid, 0,
        "false valid, not a lookalike (examples above)"
    );
    assert_eq!(missed_valid, 0, "missed valid (examples above)");
    let covered_fv: u64 = tallies[..6].iter().map(|t| t.false_valid).sum();
    assert!(
        covered_fv * 1000 <= cases,
        "lookalikes in the covered classes stay rare"
    );
    assert_eq!(conf.forced_ok, conf.forced, "forced repairs");
    assert_eq!(
        conf.issuer_forced_ok, conf.issuer_forced,
        "issuer-format repairs"
    );
    assert_eq!(
        conf.confirmed_wrong, 0,
        "a visual confirmation gave a wrong line"
    );
    assert!(
        conf.forced > 0 && conf.open > 0,
        "the generator covers both kinds"
    );
}
