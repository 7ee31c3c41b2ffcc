//! The TD3 parser on arbitrary text: never panics, and "valid" always means 44-character lines
//! whose check digits recompute.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use ocr_common::mrz::{DateContext, check_digit, parse_td3};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_once('\n').unwrap_or((&text, ""));
    let ctx = DateContext {
        today: NaiveDate::from_ymd_opt(2026, 5, 1).expect("date"),
        issue_date: None,
    };
    let r = parse_td3(a, b, &ctx);
    if r.is_valid() {
        assert_eq!(r.line1.len(), 44);
        assert_eq!(r.line2.len(), 44);
        let l2 = r.line2.as_bytes();
        let cd = |range: std::ops::Range<usize>, at: usize| {
            check_digit(&r.line2[range]).map(|d| d + b'0') == Some(l2[at])
        };
        assert!(cd(0..9, 9) && cd(13..19, 19) && cd(21..27, 27));
        let composite = format!(
            "{}{}{}",
            &r.line2[0..10],
            &r.line2[13..20],
            &r.line2[21..43]
        );
        assert_eq!(check_digit(&composite).map(|d| d + b'0'), Some(l2[43]));
        assert!(r.birth_date.is_some() && r.expiry_date.is_some());
    }
});
