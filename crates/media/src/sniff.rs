//! What a file is, decided from its first bytes (magic numbers) only: never from its name or
//! the type a client claims.

use crate::MediaKind;

/// How many leading bytes [`sniff`] needs to recognise every supported type.
pub const SNIFF_BYTES: usize = 64;

/// A recognised type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    pub kind: MediaKind,
    pub mime: &'static str,
}

const fn of(kind: MediaKind, mime: &'static str) -> Option<Sniffed> {
    Some(Sniffed { kind, mime })
}

/// The type of a file from its first [`SNIFF_BYTES`] bytes (fewer when the file is shorter),
/// or `None` when it is not one Fanz accepts.
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    use MediaKind::{Audio, Image, Video};
    let at = |i: usize, magic: &[u8]| head.get(i..i + magic.len()) == Some(magic);
    if at(0, &[0xFF, 0xD8, 0xFF]) {
        return of(Image, "image/jpeg");
    }
    if at(0, b"\x89PNG\r\n\x1a\n") {
        return of(Image, "image/png");
    }
    if at(0, b"GIF87a") || at(0, b"GIF89a") {
        return of(Image, "image/gif");
    }
    if at(0, b"RIFF") && at(8, b"WEBP") {
        return of(Image, "image/webp");
    }
    if at(0, b"RIFF") && at(8, b"WAVE") {
        return of(Audio, "audio/wav");
    }
    if at(0, b"OggS") {
        return of(Audio, "audio/ogg");
    }
    if at(0, b"ID3")
        || (head.len() >= 2 && head[0] == 0xFF && matches!(head[1], 0xFB | 0xFA | 0xF3 | 0xF2))
    {
        return of(Audio, "audio/mpeg");
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        // EBML: Matroska and WebM; only WebM names its doctype so.
        return if head.windows(4).any(|w| w == b"webm") {
            of(Video, "video/webm")
        } else {
            None
        };
    }
    if at(4, b"ftyp") {
        let brand = head.get(8..12)?;
        return match brand {
            b"M4A " | b"M4B " => of(Audio, "audio/mp4"),
            b"qt  " => of(Video, "video/quicktime"),
            // HEIF and AVIF stills share the container; they are not accepted yet.
            b"heic" | b"heix" | b"mif1" | b"msf1" | b"avif" | b"avis" => None,
            _ => of(Video, "video/mp4"),
        };
    }
    if at(4, b"moov") || at(4, b"wide") || at(4, b"mdat") {
        return of(Video, "video/quicktime");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_by_bytes() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"\xFF\xD8\xFF\xE0\0\x10JFIF", Some("image/jpeg")),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some("image/png")),
            (b"GIF89a\x01\0\x01\0", Some("image/gif")),
            (b"RIFF\0\0\0\0WEBPVP8 ", Some("image/webp")),
            (b"RIFF\0\0\0\0WAVEfmt ", Some("audio/wav")),
            (b"OggS\0\x02", Some("audio/ogg")),
            (b"ID3\x04\0", Some("audio/mpeg")),
            (b"\0\0\0\x20ftypisom\0\0\x02\0", Some("video/mp4")),
            (b"\0\0\0\x20ftypM4A \0\0\x02\0", Some("audio/mp4")),
            (b"\0\0\0\x14ftypqt  \0\0\x02\0", Some("video/quicktime")),
            (b"\0\0\0\x18ftypheic", None),
            (
                b"\x1A\x45\xDF\xA3\x9f\x42\x86\x81\x01\x42\x82\x84webm",
                Some("video/webm"),
            ),
            (
                b"\x1A\x45\xDF\xA3\x9f\x42\x86\x81\x01\x42\x82\x88matroska",
                None,
            ),
            (b"hello, I am a text file pretending to be a.jpg", None),
            (b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", None),
            (b"", None),
            (b"\xFF", None),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff(bytes).map(|s| s.mime), *want, "{bytes:?}");
        }
    }
}
