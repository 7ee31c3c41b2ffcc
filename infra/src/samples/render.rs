//! Drawing one passport data page and encoding it to PNG or JPEG at a requested size.
//!
//! The page follows the ICAO TD3 data page (125 × 88 mm): a pale tinted background with a
//! guilloche-like line pattern, a photo placeholder, the labelled visual inspection zone and the
//! two MRZ lines at the bottom in a monospace font. Everything is laid out in millimetres and
//! drawn at `px_per_mm` pixels per millimetre, so a larger page is the same page at a higher
//! resolution.
//!
//! File size is steered by two realistic knobs: the scan resolution and the amount of sensor /
//! paper-grain noise (plus the JPEG quality). Noise is what makes a lossless or lossy encoder
//! produce a bigger file, as with a real scan.

use std::sync::LazyLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use chrono::{Datelike, NaiveDate};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use sha2::{Digest, Sha256};

use super::{SampleError, SampleFormat};
use crate::truth::{self, Truth};

/// Page width of an ICAO TD3 data page, in millimetres.
pub const PAGE_WIDTH_MM: f32 = 125.0;
/// Page height of an ICAO TD3 data page, in millimetres.
pub const PAGE_HEIGHT_MM: f32 = 88.0;

/// Smallest target size [`render`] accepts, in bytes.
pub const MIN_TARGET_BYTES: usize = 60_000;
/// Largest target size [`render`] accepts, in bytes.
pub const MAX_TARGET_BYTES: usize = 12_000_000;

/// Resolution used when no target size is asked for (about 254 dpi).
const DEFAULT_PX_PER_MM: f32 = 10.0;
/// Noise amplitude used when no target size is asked for: a clean "digital" page, so that
/// default-size files stay a few hundred KB.
const DEFAULT_NOISE: f32 = 0.0;
/// JPEG quality used when no target size is asked for.
const DEFAULT_JPEG_QUALITY: u8 = 90;
/// Lowest resolution the size search may use (about 178 dpi): labels stay legible.
const MIN_PX_PER_MM: f32 = 7.0;
/// Highest resolution the size search may use (about 760 dpi).
const MAX_PX_PER_MM: f32 = 30.0;
/// Highest noise amplitude (± levels per channel) the size search may use.
const MAX_NOISE: f32 = 48.0;

static DEJAVU_MONO: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");
static DEJAVU_MONO_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono-Bold.ttf");
static NANUM_SQUARE: &[u8] = include_bytes!("../../assets/fonts/NanumSquareR.ttf");

/// The embedded fonts.
struct Fonts {
    /// MRZ (OCR-B stand-in).
    mono: FontRef<'static>,
    /// Visual-zone values.
    mono_bold: FontRef<'static>,
    /// Labels, header and the Hangul name (Latin and Hangul).
    sans: FontRef<'static>,
}

static FONTS: LazyLock<Result<Fonts, String>> = LazyLock::new(|| {
    let load = |name: &str, bytes: &'static [u8]| {
        FontRef::try_from_slice(bytes).map_err(|e| format!("{name}: {e}"))
    };
    Ok(Fonts {
        mono: load("DejaVuSansMono", DEJAVU_MONO)?,
        mono_bold: load("DejaVuSansMono-Bold", DEJAVU_MONO_BOLD)?,
        sans: load("NanumSquareR", NANUM_SQUARE)?,
    })
});

fn fonts() -> Result<&'static Fonts, SampleError> {
    FONTS.as_ref().map_err(|e| SampleError::Font(e.clone()))
}

/// A visual-zone date as printed on the page, e.g. `15 AUG 1987`.
pub fn visual_date(d: NaiveDate) -> String {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    format!(
        "{:02} {} {}",
        d.day(),
        MONTHS[d.month0() as usize],
        d.year()
    )
}

/// The country name the visual zone prints for a nationality code.
pub fn country_name(code: &str) -> &str {
    match code {
        "KOR" => "REPUBLIC OF KOREA",
        "PRK" => "DEM. PEOPLE'S REP. OF KOREA",
        "JPN" => "JAPAN",
        "USA" => "UNITED STATES OF AMERICA",
        "GBR" => "UNITED KINGDOM",
        "UTO" => "UTOPIA",
        other => other,
    }
}

/// How to draw and encode one page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    /// Resolution in pixels per millimetre.
    pub px_per_mm: f32,
    /// Noise amplitude: uniform ± levels per channel.
    pub noise: f32,
    /// JPEG quality (ignored for PNG).
    pub jpeg_quality: u8,
    /// Encode as 8-bit grayscale (a grayscale scan) instead of RGB. PNG only.
    pub gray: bool,
}

impl Plan {
    pub(crate) const DEFAULT: Plan = Plan {
        px_per_mm: DEFAULT_PX_PER_MM,
        noise: DEFAULT_NOISE,
        jpeg_quality: DEFAULT_JPEG_QUALITY,
        gray: false,
    };
}

/// Render `truth` as a passport data page encoded as `format`, with the truth embedded
/// (PNG `iTXt` / JPEG `COM`, see [`crate::truth::embed`]).
///
/// Without `target_bytes` the page is drawn at about 254 dpi with light scan noise. With it, the
/// resolution, the amount of scan noise and (for JPEG) the quality are chosen so that the file
/// lands within ±15 % of the target; targets from [`MIN_TARGET_BYTES`] to [`MAX_TARGET_BYTES`]
/// are accepted, other values are an [`SampleError::InvalidOptions`].
pub fn render(
    truth: &Truth,
    format: SampleFormat,
    target_bytes: Option<usize>,
) -> Result<Vec<u8>, SampleError> {
    let window = match target_bytes {
        None => None,
        Some(target) => {
            check_target(target)?;
            Some((target, target - target * 3 / 20, target + target * 3 / 20))
        }
    };
    Ok(truth::embed(&render_raw(truth, format, window)?, truth)?)
}

/// Like [`render`] with the size window `(aim, lo, hi)`: the file lands in `lo..=hi`.
pub(crate) fn render_within(
    truth: &Truth,
    format: SampleFormat,
    aim: usize,
    lo: usize,
    hi: usize,
) -> Result<Vec<u8>, SampleError> {
    Ok(truth::embed(
        &render_raw(truth, format, Some((aim, lo, hi)))?,
        truth,
    )?)
}

/// The encoded page for `truth` *without* the truth embedded. With a window `(aim, lo, hi)`,
/// the size once `truth` is embedded lands in `lo..=hi`.
pub(crate) fn render_raw(
    truth: &Truth,
    format: SampleFormat,
    window: Option<(usize, usize, usize)>,
) -> Result<Vec<u8>, SampleError> {
    let seed = noise_seed(truth);
    match window {
        None => {
            let page = draw_page(truth, Plan::DEFAULT.px_per_mm)?;
            finish(&page, format, Plan::DEFAULT, seed)
        }
        Some((aim, lo, hi)) => search(truth, format, aim, lo, hi, seed),
    }
}

pub(crate) fn check_target(target: usize) -> Result<(), SampleError> {
    if (MIN_TARGET_BYTES..=MAX_TARGET_BYTES).contains(&target) {
        Ok(())
    } else {
        Err(SampleError::InvalidOptions(format!(
            "target size {target} bytes is outside {MIN_TARGET_BYTES}..={MAX_TARGET_BYTES}"
        )))
    }
}

/// Seed for the noise of a page, from the truth it shows (same truth, same pixels).
fn noise_seed(truth: &Truth) -> u64 {
    let json = serde_json::to_vec(truth).unwrap_or_default();
    let digest = Sha256::digest(&json);
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(seed)
}

/// Add noise to a copy of `page` and encode it.
fn finish(
    page: &RgbImage,
    format: SampleFormat,
    plan: Plan,
    seed: u64,
) -> Result<Vec<u8>, SampleError> {
    let mut img = page.clone();
    add_noise(&mut img, plan.noise, seed);
    encode(&img, format, plan)
}

/// Encode an RGB image as the plan says.
fn encode(img: &RgbImage, format: SampleFormat, plan: Plan) -> Result<Vec<u8>, SampleError> {
    let mut out = Vec::new();
    match format {
        SampleFormat::Png => {
            let enc = PngEncoder::new_with_quality(
                &mut out,
                CompressionType::Default,
                FilterType::Adaptive,
            );
            if plan.gray {
                let luma = image::DynamicImage::ImageRgb8(img.clone()).into_luma8();
                enc.write_image(
                    luma.as_raw(),
                    img.width(),
                    img.height(),
                    ExtendedColorType::L8,
                )?;
            } else {
                enc.write_image(
                    img.as_raw(),
                    img.width(),
                    img.height(),
                    ExtendedColorType::Rgb8,
                )?;
            }
        }
        SampleFormat::Jpeg => {
            JpegEncoder::new_with_quality(&mut out, plan.jpeg_quality).write_image(
                img.as_raw(),
                img.width(),
                img.height(),
                ExtendedColorType::Rgb8,
            )?;
        }
    }
    Ok(out)
}

/// Starting point of the size search for a target. The resolution grows with the target (bigger
/// files are higher-resolution scans) so that the clean page comes out somewhat below it; noise
/// then fills the rest. Small PNG targets are grayscale scans.
fn initial_plan(format: SampleFormat, target: usize) -> Plan {
    // Approximate clean-page sizes at MIN_PX_PER_MM, measured.
    let (clean_at_min, gray, jpeg_quality) = match format {
        SampleFormat::Png if target < 250_000 => (92_000.0, true, DEFAULT_JPEG_QUALITY),
        SampleFormat::Png => (173_000.0, false, DEFAULT_JPEG_QUALITY),
        SampleFormat::Jpeg if target >= 1_000_000 => (178_000.0, false, 95),
        SampleFormat::Jpeg => (116_000.0, false, DEFAULT_JPEG_QUALITY),
    };
    let ratio = target as f32 / clean_at_min;
    Plan {
        px_per_mm: (MIN_PX_PER_MM * ratio.powf(0.35)).clamp(MIN_PX_PER_MM, MAX_PX_PER_MM),
        noise: 0.0,
        jpeg_quality,
        gray,
    }
}

/// Search for an encoding whose size, once the truth is embedded, lands in `lo..=hi`, aiming
/// at `aim`.
///
/// 1. Encode the clean page at the initial resolution. Too big: lower the resolution (then the
///    JPEG quality) and retry.
/// 2. Too small: the missing bytes are made up with scan noise. How many bytes per pixel a noise
///    level costs is calibrated on a small noise-only tile (cheap), so one full encode at the
///    chosen level usually gets close.
/// 3. Fine-tune with the resolution: at a fixed noise level the size is about proportional to
///    the pixel count.
fn search(
    truth: &Truth,
    format: SampleFormat,
    aim: usize,
    lo: usize,
    hi: usize,
    seed: u64,
) -> Result<Vec<u8>, SampleError> {
    const MAX_EVALS: usize = 12;
    let mut plan = initial_plan(format, aim);
    let mut page = draw_page(truth, plan.px_per_mm)?;
    let mut overhead: Option<usize> = None;
    let mut best: Option<(usize, Vec<u8>)> = None;
    let mut noise_chosen = false;
    for _ in 0..MAX_EVALS {
        let bytes = finish(&page, format, plan, seed)?;
        let extra = match overhead {
            Some(o) => o,
            None => *overhead.insert(truth::embed(&bytes, truth)?.len() - bytes.len()),
        };
        let size = bytes.len() + extra;
        if (lo..=hi).contains(&size) {
            return Ok(bytes);
        }
        if best
            .as_ref()
            .is_none_or(|(b, _)| dist(*b, aim) > dist(size, aim))
        {
            best = Some((size, bytes));
        }
        let pixels = page.width() as f32 * page.height() as f32;
        if size < lo && !noise_chosen && plan.noise < MAX_NOISE {
            // Add noise worth the missing bytes per pixel.
            let need = (aim - size) as f32 / pixels + noise_cost(format, plan, plan.noise)?;
            plan.noise = noise_for_cost(format, plan, need)?;
            noise_chosen = true;
            continue;
        }
        // Resolution: size ~ pixels when noise dominates, ~ resolution^1.1 for a clean page.
        let exponent = if plan.noise > 0.0 { 0.5 } else { 0.9 };
        let factor = (aim as f32 / size as f32).powf(exponent);
        let scale = (plan.px_per_mm * factor).clamp(MIN_PX_PER_MM, MAX_PX_PER_MM);
        if (scale - plan.px_per_mm).abs() >= 0.01 {
            plan.px_per_mm = scale;
            page = draw_page(truth, plan.px_per_mm)?;
            continue;
        }
        // At a resolution limit.
        if size > hi && plan.noise > 0.0 {
            plan.noise = (plan.noise * 0.6 * (aim as f32 / size as f32)).max(0.0);
            if plan.noise < 0.05 {
                plan.noise = 0.0;
            }
        } else if size > hi && format == SampleFormat::Jpeg && plan.jpeg_quality > 50 {
            plan.jpeg_quality = plan.jpeg_quality.saturating_sub(10).max(50);
        } else if size > hi && format == SampleFormat::Png && !plan.gray {
            plan.gray = true;
        } else if size < lo && plan.noise < MAX_NOISE {
            let need = (aim - size) as f32 / pixels + noise_cost(format, plan, plan.noise)?;
            plan.noise = noise_for_cost(format, plan, need)?.max(plan.noise * 1.2 + 0.1);
        } else {
            break;
        }
    }
    let got = best.map_or(0, |(size, _)| size);
    Err(SampleError::SizeUnreachable {
        target: aim,
        got,
        format,
    })
}

/// Side of the square tile used to calibrate the cost of noise.
const TILE: u32 = 96;

/// Extra bytes per pixel that noise `level` costs with this encoder setup, measured on a flat
/// tile (its clean encoding subtracted).
fn noise_cost(format: SampleFormat, plan: Plan, level: f32) -> Result<f32, SampleError> {
    if level <= 0.0 {
        return Ok(0.0);
    }
    let tile = RgbImage::from_pixel(TILE, TILE, image::Rgb([232, 238, 240]));
    let clean = encode(&tile, format, plan)?.len();
    let mut noisy = tile;
    add_noise(&mut noisy, level, 0x7E57);
    let with = encode(&noisy, format, plan)?.len();
    Ok(with.saturating_sub(clean) as f32 / (TILE * TILE) as f32)
}

/// The noise level whose [`noise_cost`] is about `cost` bytes per pixel (bisection).
fn noise_for_cost(format: SampleFormat, plan: Plan, cost: f32) -> Result<f32, SampleError> {
    let (mut lo, mut hi) = (0.0f32, MAX_NOISE);
    if noise_cost(format, plan, hi)? <= cost {
        return Ok(hi);
    }
    for _ in 0..14 {
        let mid = (lo + hi) / 2.0;
        if noise_cost(format, plan, mid)? < cost {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok((lo + hi) / 2.0)
}

fn dist(a: usize, b: usize) -> usize {
    a.abs_diff(b)
}

/// Add scan noise of strength `level`, deterministically from `seed`.
///
/// Up to 2, a fraction `level / 2` of the channel values gets ±1 or ±2; above 2, every value
/// gets a uniform offset of up to ±`level`. File size grows smoothly and monotonically with the
/// level, which the size search relies on.
fn add_noise(img: &mut RgbImage, level: f32, seed: u64) {
    if level <= 0.0 {
        return;
    }
    let (amplitude, density) = if level <= 2.0 {
        (2.0, level / 2.0)
    } else {
        (level, 1.0)
    };
    let noisy = ((density * 256.0).round() as usize).min(256);
    let mut lut = [0i16; 256];
    for (b, v) in lut.iter_mut().enumerate().take(noisy) {
        // Spread the noisy entries' values evenly over -amplitude..=amplitude, skipping 0.
        let u = (b as f32 + 0.5) / noisy as f32 * 2.0 - 1.0;
        let x = (u * amplitude).round() as i16;
        *v = if x == 0 {
            if u < 0.0 { -1 } else { 1 }
        } else {
            x
        };
    }
    let mut state = seed | 1;
    for chunk in img.as_mut().chunks_mut(8) {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        for (p, b) in chunk.iter_mut().zip(r) {
            *p = (i16::from(*p) + lut[usize::from(b)]).clamp(0, 255) as u8;
        }
    }
}

/// A page being drawn, addressed in millimetres.
struct Canvas {
    img: RgbImage,
    /// Pixels per millimetre.
    s: f32,
    /// Font for characters the requested font lacks (Hangul).
    fallback: &'static FontRef<'static>,
}

/// Font, em size (mm) and colour of a run of text.
#[derive(Clone, Copy)]
struct Style {
    font: &'static FontRef<'static>,
    em: f32,
    color: Rgb,
}

type Rgb = [u8; 3];

const INK: Rgb = [22, 24, 34];
const LABEL: Rgb = [62, 84, 112];
const HEADER: Rgb = [28, 52, 104];

impl Canvas {
    fn px(&self, mm: f32) -> f32 {
        mm * self.s
    }

    fn blend(&mut self, x: i32, y: i32, color: Rgb, alpha: f32) {
        if x < 0 || y < 0 || x >= self.img.width() as i32 || y >= self.img.height() as i32 {
            return;
        }
        let p = self.img.get_pixel_mut(x as u32, y as u32);
        for (c, t) in p.0.iter_mut().zip(color) {
            *c = (f32::from(*c) * (1.0 - alpha) + f32::from(t) * alpha).round() as u8;
        }
    }

    fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb) {
        let (x0, y0) = (self.px(x).round() as i32, self.px(y).round() as i32);
        let (x1, y1) = (self.px(x + w).round() as i32, self.px(y + h).round() as i32);
        for py in y0..y1 {
            for px in x0..x1 {
                self.blend(px, py, color, 1.0);
            }
        }
    }

    fn stroke_rect(&mut self, x: f32, y: f32, w: f32, h: f32, t: f32, color: Rgb) {
        self.fill_rect(x, y, w, t, color);
        self.fill_rect(x, y + h - t, w, t, color);
        self.fill_rect(x, y, t, h, color);
        self.fill_rect(x + w - t, y, t, h, color);
    }

    /// Fill an ellipse (centre, radii in mm), clipped to a rectangle (mm).
    fn fill_ellipse(
        &mut self,
        c: (f32, f32),
        r: (f32, f32),
        clip: (f32, f32, f32, f32),
        color: Rgb,
    ) {
        let (cx, cy, rx, ry) = (self.px(c.0), self.px(c.1), self.px(r.0), self.px(r.1));
        let (x0, y0) = (self.px(clip.0) as i32, self.px(clip.1) as i32);
        let (x1, y1) = (
            self.px(clip.0 + clip.2) as i32,
            self.px(clip.1 + clip.3) as i32,
        );
        for py in y0.max((cy - ry) as i32)..y1.min((cy + ry) as i32 + 1) {
            for px in x0.max((cx - rx) as i32)..x1.min((cx + rx) as i32 + 1) {
                let dx = (px as f32 + 0.5 - cx) / rx;
                let dy = (py as f32 + 0.5 - cy) / ry;
                let d = (dx * dx + dy * dy).sqrt();
                // One-pixel soft edge.
                let alpha = ((1.0 - d) * rx.min(ry) + 0.5).clamp(0.0, 1.0);
                if alpha > 0.0 {
                    self.blend(px, py, color, alpha);
                }
            }
        }
    }

    /// Draw `text` with its baseline at (`x`, `baseline`) mm. Characters missing from the
    /// style's font fall back to the Hangul-capable sans font. Returns the advance in mm.
    fn text(&mut self, style: Style, x: f32, baseline: f32, text: &str) -> f32 {
        let start = self.px(x);
        let mut caret = start;
        let base = self.px(baseline);
        let em_px = self.px(style.em);
        let mut prev: Option<(usize, GlyphId)> = None;
        for ch in text.chars() {
            let (which, f) = if style.font.glyph_id(ch).0 != 0 || ch == ' ' {
                (0, style.font)
            } else {
                (1, self.fallback)
            };
            let id = f.glyph_id(ch);
            let scale = px_scale(f, em_px);
            let scaled = f.as_scaled(scale);
            if let Some((pw, pid)) = prev
                && pw == which
            {
                caret += scaled.kern(pid, id);
            }
            let glyph = id.with_scale_and_position(scale, point(caret, base));
            if let Some(outlined) = f.outline_glyph(glyph) {
                let b = outlined.px_bounds();
                let (ox, oy) = (b.min.x as i32, b.min.y as i32);
                outlined.draw(|gx, gy, cov| {
                    if cov > 0.0 {
                        self.blend(ox + gx as i32, oy + gy as i32, style.color, cov.min(1.0));
                    }
                });
            }
            caret += scaled.h_advance(id);
            prev = Some((which, id));
        }
        (caret - start) / self.s
    }
}

/// The `PxScale` that gives an em of `em_px` pixels.
fn px_scale(font: &FontRef<'static>, em_px: f32) -> PxScale {
    let upem = font.units_per_em().unwrap_or(1000.0);
    PxScale::from(em_px * font.height_unscaled() / upem)
}

/// Background: a diagonal pale green-to-blue gradient with a fine wavy line pattern.
fn background(img: &mut RgbImage, s: f32) {
    // Sine by table lookup; the phase is in table steps, wrapped by masking.
    const TABLE: usize = 1024;
    let step = TABLE as f32 / std::f32::consts::TAU;
    let sin: Vec<f32> = (0..TABLE).map(|i| (i as f32 / step).sin()).collect();
    let lsin = |radians: f32| sin[((radians * step) as i32 as usize) & (TABLE - 1)];
    let (w, h) = (img.width() as usize, img.height() as usize);
    let top: [f32; 3] = [238.0, 244.0, 236.0];
    let bottom: [f32; 3] = [226.0, 234.0, 244.0];
    let tint: [f32; 3] = [26.0, 14.0, 20.0];
    // Two crossing families of wavy lines ("guilloche"): zero crossings of a phase-modulated
    // sine, about 1.1 mm apart and 0.1 mm wide whatever the resolution.
    let fx = std::f32::consts::TAU * 0.45 / s;
    let fy = std::f32::consts::TAU * 0.05 / s;
    let col_phase: Vec<f32> = (0..w)
        .map(|x| 4.0 * lsin(x as f32 * fy * 1.3 + 1.0))
        .collect();
    let col_base: Vec<f32> = (0..w).map(|x| x as f32 * fx).collect();
    let row_len = w * 3;
    for (y, row) in img.chunks_exact_mut(row_len).enumerate() {
        let yf = y as f32;
        let row_phase = 5.0 * lsin(yf * fy);
        let row_base = yf * fx * 1.2;
        let ty = yf / h as f32 * 0.65;
        for (x, p) in row.chunks_exact_mut(3).enumerate() {
            let t = (x as f32 / w as f32 * 0.35 + ty).min(1.0);
            let v1 = lsin(col_base[x] + row_phase);
            let v2 = lsin(row_base + col_phase[x]);
            let ink = if v1.abs() < 0.1 || v2.abs() < 0.1 {
                0.6
            } else {
                0.0
            };
            for c in 0..3 {
                p[c] = (top[c] + (bottom[c] - top[c]) * t - ink * tint[c]) as u8;
            }
        }
    }
}

/// Draw the page for `truth` at `px_per_mm`, without noise.
pub(crate) fn draw_page(truth: &Truth, px_per_mm: f32) -> Result<RgbImage, SampleError> {
    let fonts = fonts()?;
    let w = (PAGE_WIDTH_MM * px_per_mm).round() as u32;
    let h = (PAGE_HEIGHT_MM * px_per_mm).round() as u32;
    let mut c = Canvas {
        img: RgbImage::new(w, h),
        s: px_per_mm,
        fallback: &fonts.sans,
    };
    background(&mut c.img, px_per_mm);
    let (sans, mono, bold) = (&fonts.sans, &fonts.mono, &fonts.mono_bold);
    let style = |font, em, color| Style { font, em, color };

    // Header.
    let header = style(sans, 3.0, HEADER);
    c.text(header, 5.0, 7.5, "여권  PASSPORT");
    let country = "대한민국  REPUBLIC OF KOREA";
    let cw = measure(sans, 3.0, country);
    c.text(header, PAGE_WIDTH_MM - 5.0 - cw, 7.5, country);
    c.fill_rect(5.0, 9.5, PAGE_WIDTH_MM - 10.0, 0.3, HEADER);

    // Photo placeholder with a silhouette.
    let photo = (5.0, 13.0, 30.0, 40.0);
    c.fill_rect(photo.0, photo.1, photo.2, photo.3, [214, 220, 226]);
    c.fill_ellipse((20.0, 27.0), (7.0, 8.8), photo, [156, 166, 178]);
    c.fill_ellipse((20.0, 54.0), (13.5, 12.0), photo, [156, 166, 178]);
    c.stroke_rect(photo.0, photo.1, photo.2, photo.3, 0.25, [120, 132, 150]);
    // The Hangul name again under the photo, as a signature line.
    let signature = style(sans, 2.6, [40, 46, 70]);
    c.text(signature, 6.0, 57.5, &truth.full_name_korean);

    // Visual inspection zone: label above, value below.
    let label = style(sans, 1.7, LABEL);
    let value = style(bold, 2.9, INK);
    let field = |c: &mut Canvas, x: f32, y: f32, name: &str, text: &str| {
        c.text(label, x, y, name);
        c.text(value, x, y + 3.3, text);
    };
    let x0 = 40.0;
    field(&mut c, x0, 14.0, "종류/Type", &truth.document_code);
    field(
        &mut c,
        58.0,
        14.0,
        "발행국/Issuing country",
        &truth.issuing_country,
    );
    field(&mut c, 88.0, 14.0, "여권번호/Passport No.", &truth.number);
    field(&mut c, x0, 20.6, "성/Surname", &truth.surname);
    field(&mut c, x0, 27.2, "이름/Given names", &truth.given_names);
    c.text(label, x0, 33.8, "한글성명");
    c.text(style(sans, 3.0, INK), x0, 37.3, &truth.full_name_korean);
    field(&mut c, 88.0, 33.8, "성별/Sex", &truth.sex);
    field(
        &mut c,
        x0,
        40.4,
        "국적/Nationality",
        country_name(&truth.nationality),
    );
    field(
        &mut c,
        88.0,
        40.4,
        "생년월일/Date of birth",
        &visual_date(truth.birth_date),
    );
    field(
        &mut c,
        x0,
        47.0,
        "발급일/Date of issue",
        &visual_date(truth.issue_date),
    );
    field(
        &mut c,
        88.0,
        47.0,
        "기간만료일/Date of expiry",
        &visual_date(truth.expiry_date),
    );
    field(&mut c, x0, 53.6, "발행관청/Authority", &truth.authority);
    if !truth.personal_number.is_empty() {
        field(
            &mut c,
            x0,
            60.2,
            "주민등록번호/Personal No.",
            &truth.personal_number,
        );
    }

    // Machine readable zone: a lighter band with two 44-character lines at 10 cpi.
    c.fill_rect(
        0.0,
        68.0,
        PAGE_WIDTH_MM,
        PAGE_HEIGHT_MM - 68.0,
        [246, 247, 243],
    );
    let (l1, l2) = truth.mrz_lines();
    let pitch = 2.54;
    let em = mrz_em(mono, pitch);
    let x = (PAGE_WIDTH_MM - pitch * 44.0) / 2.0;
    let mrz = style(mono, em, [0, 0, 0]);
    c.text(mrz, x, 76.5, &l1);
    c.text(mrz, x, 83.5, &l2);
    Ok(c.img)
}

/// Em size (mm) of a monospace font whose advance is `pitch` mm.
fn mrz_em(font: &FontRef<'static>, pitch: f32) -> f32 {
    let upem = font.units_per_em().unwrap_or(1000.0);
    let adv = font.h_advance_unscaled(font.glyph_id('<'));
    if adv > 0.0 {
        pitch * upem / adv
    } else {
        pitch / 0.6
    }
}

/// Advance width (mm) of `text` in `font` at `em` mm.
fn measure(font: &FontRef<'static>, em: f32, text: &str) -> f32 {
    let upem = font.units_per_em().unwrap_or(1000.0);
    text.chars()
        .map(|ch| font.h_advance_unscaled(font.glyph_id(ch)))
        .sum::<f32>()
        * em
        / upem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fonts_load_and_cover_every_hangul_syllable_the_truth_uses() {
        let f = fonts().unwrap();
        for seed in 0..200 {
            let t = Truth::synthetic(seed);
            for ch in t.full_name_korean.chars() {
                assert_ne!(f.sans.glyph_id(ch).0, 0, "missing glyph for {ch}");
            }
        }
        for ch in "여권대한민국종류발행국번호성이름한글명별적생년월일발급기간만료관청".chars()
        {
            assert_ne!(f.sans.glyph_id(ch).0, 0, "missing glyph for {ch}");
        }
    }

    #[test]
    fn visual_dates_look_like_a_passport() {
        let d = NaiveDate::from_ymd_opt(1987, 8, 15).unwrap();
        assert_eq!(visual_date(d), "15 AUG 1987");
    }
}
