//! Image format detection from magic bytes (the key's extension is never trusted), and cheap
//! structural checks that refuse images we would pay to have rejected.

use serde::{Deserialize, Serialize};

/// Image formats the CLOVA ID-card endpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// JPEG.
    Jpg,
    /// PNG.
    Png,
    /// PDF (single page only).
    Pdf,
    /// TIFF (single page only).
    Tif,
}

impl ImageFormat {
    /// The `format` value sent to CLOVA.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Jpg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Pdf => "pdf",
            ImageFormat::Tif => "tif",
        }
    }

    /// MIME type for the multipart `file` part.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Pdf => "application/pdf",
            ImageFormat::Tif => "image/tiff",
        }
    }
}

/// Why an object is not an image we can send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Magic bytes match no supported format.
    #[error("not a JPEG, PNG, PDF or TIFF image")]
    Unknown,
    /// Empty object.
    #[error("object is empty")]
    Empty,
    /// A PDF or TIFF with more than one page.
    #[error("{format} has {pages} pages; only single-page documents are accepted")]
    MultiPage {
        /// Format name.
        format: &'static str,
        /// Pages counted.
        pages: usize,
    },
    /// The file ends before its format says it should (an upload cut short).
    #[error("{0} image is truncated")]
    Truncated(&'static str),
}

/// Detect the format of `bytes` and check it is complete and single-page.
pub fn inspect(bytes: &[u8]) -> Result<ImageFormat, FormatError> {
    if bytes.is_empty() {
        return Err(FormatError::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        // A complete JPEG ends with EOI; tolerate trailing padding after it.
        let tail = &bytes[bytes.len().saturating_sub(1024)..];
        if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
            return Err(FormatError::Truncated("jpg"));
        }
        return Ok(ImageFormat::Jpg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let tail = &bytes[bytes.len().saturating_sub(64)..];
        if !tail.windows(4).any(|w| w == b"IEND") {
            return Err(FormatError::Truncated("png"));
        }
        return Ok(ImageFormat::Png);
    }
    if bytes.starts_with(b"%PDF-") {
        let tail = &bytes[bytes.len().saturating_sub(2048)..];
        if !tail.windows(5).any(|w| w == b"%%EOF") {
            return Err(FormatError::Truncated("pdf"));
        }
        let pages = pdf_page_count(bytes);
        if pages > 1 {
            return Err(FormatError::MultiPage {
                format: "pdf",
                pages,
            });
        }
        return Ok(ImageFormat::Pdf);
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        let pages = tiff_page_count(bytes).ok_or(FormatError::Truncated("tif"))?;
        if pages > 1 {
            return Err(FormatError::MultiPage {
                format: "tif",
                pages,
            });
        }
        return Ok(ImageFormat::Tif);
    }
    Err(FormatError::Unknown)
}

/// Count `/Type /Page` objects (not `/Pages`) in an uncompressed PDF object table. Pages inside
/// compressed object streams are not seen; the OCR service then decides.
fn pdf_page_count(bytes: &[u8]) -> usize {
    let mut count = 0;
    let mut i = 0;
    while let Some(pos) = find(&bytes[i..], b"/Type") {
        let mut j = i + pos + 5;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if bytes[j..].starts_with(b"/Page") && !bytes[j + 5..].starts_with(b"s") {
            count += 1;
        }
        i = j;
    }
    count
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Follow the TIFF IFD chain; `None` if an offset points outside the file.
fn tiff_page_count(b: &[u8]) -> Option<usize> {
    let le = b[0] == b'I';
    let u16_at = |o: usize| -> Option<u16> {
        let s: [u8; 2] = b.get(o..o + 2)?.try_into().ok()?;
        Some(if le {
            u16::from_le_bytes(s)
        } else {
            u16::from_be_bytes(s)
        })
    };
    let u32_at = |o: usize| -> Option<u32> {
        let s: [u8; 4] = b.get(o..o + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    };
    let mut offset = u32_at(4)? as usize;
    let mut pages = 0;
    while offset != 0 {
        pages += 1;
        if pages > 10_000 {
            return None; // a loop in the chain
        }
        let entries = u16_at(offset)? as usize;
        offset = u32_at(offset + 2 + entries * 12)? as usize;
    }
    Some(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiff(pages: usize) -> Vec<u8> {
        // Little-endian header, then `pages` IFDs with zero entries chained together.
        let mut b = b"II*\0".to_vec();
        b.extend_from_slice(&8u32.to_le_bytes());
        for p in 0..pages {
            b.extend_from_slice(&0u16.to_le_bytes());
            let next = if p + 1 == pages {
                0
            } else {
                b.len() as u32 + 4
            };
            b.extend_from_slice(&next.to_le_bytes());
        }
        b
    }

    #[test]
    fn detects_by_magic_not_name() {
        assert_eq!(
            inspect(b"\xFF\xD8\xFF\xE0....\xFF\xD9"),
            Ok(ImageFormat::Jpg)
        );
        assert_eq!(
            inspect(b"\x89PNG\r\n\x1a\n....IEND\xAE\x42\x60\x82"),
            Ok(ImageFormat::Png)
        );
        assert_eq!(inspect(&tiff(1)), Ok(ImageFormat::Tif));
        assert_eq!(
            inspect(
                b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n2 0 obj << /Type /Pages >>\n%%EOF"
            ),
            Ok(ImageFormat::Pdf)
        );
        assert_eq!(inspect(b"GIF89a...."), Err(FormatError::Unknown));
        assert_eq!(inspect(b""), Err(FormatError::Empty));
    }

    #[test]
    fn refuses_multi_page_and_truncated() {
        assert_eq!(
            inspect(&tiff(3)),
            Err(FormatError::MultiPage {
                format: "tif",
                pages: 3
            })
        );
        assert_eq!(
            inspect(b"%PDF-1.4 /Type /Page /Type/Page /Type /Pages %%EOF"),
            Err(FormatError::MultiPage {
                format: "pdf",
                pages: 2
            })
        );
        assert_eq!(
            inspect(b"\xFF\xD8\xFF\xE0 cut"),
            Err(FormatError::Truncated("jpg"))
        );
        assert_eq!(
            inspect(b"\x89PNG\r\n\x1a\n cut"),
            Err(FormatError::Truncated("png"))
        );
        assert_eq!(
            inspect(b"II*\0\xff\xff\xff\x00"),
            Err(FormatError::Truncated("tif"))
        );
    }

    #[test]
    fn never_panics_on_short_input() {
        for n in 0..16 {
            let _ = inspect(&b"%PDF-/Type /Page"[..n]);
            let _ = inspect(&b"II*\0\x08\0\0\0\x01\0"[..n.min(10)]);
            let _ = inspect(&b"MM\0*\0\0\0\x08"[..n.min(8)]);
        }
        let _ = inspect(b"%PDF- /Type");
    }
}
