//! HLS playlists as delivered: every URI in a stored playlist (variant playlists, the media
//! file's init section and segments) is replaced by a delivery URL signed for the same
//! viewer, so a playlist is only as good as the entitlement check that signed it.
//!
//! The playlists are the ones ffmpeg wrote for this item: their URIs are plain file names
//! beside the playlist. Anything else (a path, a scheme, `..`) makes the playlist unusable
//! rather than being passed through. A URI read by a byte range (`EXT-X-BYTERANGE`, or the
//! `BYTERANGE` of an `EXT-X-MAP`) is given to the signer with that range, so its URL can be
//! signed for those bytes only.

/// `len[@offset]` of a byte range; without an offset it follows `after` (the end of the
/// previous range of the same file).
fn byte_range(spec: &str, after: u64) -> Option<(u64, u64)> {
    let (len, off) = match spec.split_once('@') {
        Some((l, o)) => (l.trim().parse().ok()?, o.trim().parse().ok()?),
        None => (spec.trim().parse().ok()?, after),
    };
    Some((off, len))
}

/// Rewrite `text`, a playlist stored as the rendition `playlist` (`hls/master.m3u8`), giving
/// each URI to `sign` as the rendition name it refers to (`hls/v0.m3u8`) and the byte range
/// `(offset, length)` it is read by, if any. `None` when a URI is not a plain file name or
/// `sign` does not know it.
pub fn rewrite(
    text: &str,
    playlist: &str,
    mut sign: impl FnMut(&str, Option<(u64, u64)>) -> Option<String>,
) -> Option<String> {
    let dir = match playlist.rfind('/') {
        Some(i) => &playlist[..=i],
        None => "",
    };
    let mut resolve = |uri: &str, range: Option<(u64, u64)>| -> Option<String> {
        let plain = !uri.is_empty()
            && uri
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && !uri.starts_with('.');
        if !plain {
            return None;
        }
        sign(&format!("{dir}{uri}"), range)
    };
    let mut out = String::with_capacity(text.len() * 4);
    // The range of the next segment, and where the last one ended.
    let mut next_range: Option<(u64, u64)> = None;
    let mut end = 0u64;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            out.push('\n');
            continue;
        }
        if let Some(spec) = line.strip_prefix("#EXT-X-BYTERANGE:") {
            let r = byte_range(spec, end)?;
            next_range = Some(r);
            end = r.0.checked_add(r.1)?;
            out.push_str(line);
        } else if line.starts_with('#') {
            // Attribute URIs: EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, …
            let range = match line.find("BYTERANGE=\"") {
                Some(i) => {
                    let spec = &line[i + 11..];
                    Some(byte_range(&spec[..spec.find('"')?], 0)?)
                }
                None => None,
            };
            let mut rest = line;
            while let Some(i) = rest.find("URI=\"") {
                out.push_str(&rest[..i + 5]);
                rest = &rest[i + 5..];
                let end = rest.find('"')?;
                out.push_str(&resolve(&rest[..end], range)?);
                rest = &rest[end..];
            }
            out.push_str(rest);
        } else {
            out.push_str(&resolve(line.trim(), next_range.take())?);
        }
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(name: &str, range: Option<(u64, u64)>) -> Option<String> {
        (name.starts_with("hls/v") || name == "hls/x.mp4").then(|| match range {
            Some((o, l)) => format!("/media/T({name}@{o}+{l})"),
            None => format!("/media/T({name})"),
        })
    }

    #[test]
    fn every_uri_is_signed() {
        let master = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=580800,RESOLUTION=426x240\nv0.m3u8\n\n#EXT-X-STREAM-INF:BANDWIDTH=1020800\nv1.m3u8\n";
        let got = rewrite(master, "hls/master.m3u8", signer).unwrap();
        assert_eq!(
            got,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=580800,RESOLUTION=426x240\n/media/T(hls/v0.m3u8)\n\n#EXT-X-STREAM-INF:BANDWIDTH=1020800\n/media/T(hls/v1.m3u8)\n"
        );
        let variant = "#EXTM3U\n#EXT-X-MAP:URI=\"v0.mp4\",BYTERANGE=\"1373@0\"\n#EXTINF:4.000000,\n#EXT-X-BYTERANGE:184851@1373\nv0.mp4\n#EXTINF:4.000000,\n#EXT-X-BYTERANGE:1000\nv0.mp4\n#EXT-X-ENDLIST\n";
        let got = rewrite(variant, "hls/v0.m3u8", signer).unwrap();
        assert_eq!(
            got,
            "#EXTM3U\n#EXT-X-MAP:URI=\"/media/T(hls/v0.mp4@0+1373)\",BYTERANGE=\"1373@0\"\n#EXTINF:4.000000,\n#EXT-X-BYTERANGE:184851@1373\n/media/T(hls/v0.mp4@1373+184851)\n#EXTINF:4.000000,\n#EXT-X-BYTERANGE:1000\n/media/T(hls/v0.mp4@186224+1000)\n#EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn foreign_uris_spoil_the_playlist() {
        for bad in [
            "https://elsewhere.example/x.mp4",
            "../m/other/original",
            "/media/abc",
            ".hidden",
            "unknown.mp4",
        ] {
            let text = format!("#EXTM3U\n{bad}\n");
            assert_eq!(rewrite(&text, "hls/v0.m3u8", signer), None, "{bad}");
            let text = format!("#EXTM3U\n#EXT-X-MAP:URI=\"{bad}\"\n");
            assert_eq!(rewrite(&text, "hls/v0.m3u8", signer), None, "{bad}");
        }
        assert_eq!(
            rewrite("#EXT-X-MAP:URI=\"v0.mp4", "hls/v0.m3u8", signer),
            None
        );
    }
}
