//! `fanz media trace FILE`: name the viewer a leaked picture or a recording of a video was
//! delivered to (`fanz_media::mark` for pictures, `fanz_media::abmark` for video).

use anyhow::{Context, Result};
use fanz_store::Db;
use std::io::Read;
use std::path::Path;

/// Trace `file` as a video when its first bytes say so, as a picture otherwise; exit status
/// 1 when no viewer is named.
pub async fn run(media: &fanz_media::Media, db: &mut Db, file: &Path) -> Result<()> {
    let mut head = Vec::new();
    std::fs::File::open(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .take(fanz_media::sniff::SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let video =
        fanz_media::sniff::sniff(&head).is_some_and(|s| s.kind == fanz_media::MediaKind::Video);
    if video {
        video_trace(media, db, file).await
    } else {
        picture(media, db, file).await
    }
}

async fn handle(db: &mut Db, viewer_id: i64) -> String {
    fanz_profiles::get_by_user(db, viewer_id)
        .await
        .map(|p| format!("@{}", p.handle))
        .unwrap_or_else(|_| "an erased account".into())
}

async fn video_trace(media: &fanz_media::Media, db: &mut Db, file: &Path) -> Result<()> {
    use fanz_media::abmark::VideoTrace;
    let started = std::time::Instant::now();
    let found = fanz_media::abmark::trace_file(media, db, file)
        .await
        .with_context(|| format!("cannot trace {}", file.display()))?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "traced a recording"
    );
    match found {
        VideoTrace::UnknownVideo => {
            println!(
                "cannot tell: no video on this server looks like {}",
                file.display()
            );
            std::process::exit(1);
        }
        VideoTrace::NotMarked { media_id } => {
            println!(
                "the recording is of media {media_id}, which was processed without A/B marks: \
                 cannot tell who it was served to"
            );
            std::process::exit(1);
        }
        VideoTrace::NoViewer {
            media_id,
            candidates,
            segments,
            best,
        } => {
            let best = match best {
                Some(b) => format!(
                    "; best agreement {} of {segments} segments (chance {:.2e})",
                    b.agree, b.p_value
                ),
                None => String::new(),
            };
            println!(
                "the recording is of media {media_id}, but no sequence of the {candidates} viewers \
                 it was delivered to stands out among the {segments} segments read{best}: cannot tell"
            );
            std::process::exit(1);
        }
        VideoTrace::Viewer {
            media_id,
            candidates,
            segments,
            best,
            runner_up,
            confidence,
        } => {
            let who = handle(db, best.viewer_id).await;
            let next = match runner_up {
                Some(r) => format!(
                    "; next best {} with {} of {segments}",
                    handle(db, r.viewer_id).await,
                    r.agree
                ),
                None => String::new(),
            };
            println!(
                "media {media_id} was recorded from the stream served to {who} (user {}): \
                 confidence {confidence:.6} ({} of {segments} segments agree with their sequence; \
                 a random sequence agrees as well with chance {:.2e}, among {candidates} viewers{next})",
                best.viewer_id, best.agree, best.p_value
            );
            Ok(())
        }
    }
}

async fn picture(media: &fanz_media::Media, db: &mut Db, file: &Path) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    use fanz_media::mark::Trace;
    match fanz_media::mark::trace_bytes(media, db, bytes).await? {
        Trace::UnknownPicture => {
            println!(
                "cannot trace: no picture on this server looks like {}",
                file.display()
            );
            std::process::exit(1);
        }
        Trace::NoViewer {
            media_id,
            candidates,
            best,
        } => {
            println!(
                "the picture is media {media_id}, but no viewer's mark stands out among the \
                 {candidates} it was delivered to marked (best correlation {best:.3}): \
                 cannot name a viewer"
            );
            std::process::exit(1);
        }
        Trace::Viewer {
            media_id,
            viewer_id,
            correlation,
            sigmas,
            runner_up,
            confidence,
        } => {
            let handle = handle(db, viewer_id).await;
            println!(
                "media {media_id} was leaked by {handle} (user {viewer_id}): confidence {confidence:.2} \
                 (correlation {correlation:.3} with their mark, {sigmas:.0} standard deviations above an \
                 unmarked copy; next best viewer {runner_up:.3})"
            );
        }
    }
    Ok(())
}
