//! Video and audio processing through ffmpeg and ffprobe (Debian's packages), run as
//! subprocesses on a local copy of the original.
//!
//! Untrusted files are handled so: the demuxer is named from the sniffed type (`-f mov`,
//! `-f matroska`, …) instead of probed, and `-protocol_whitelist file` keeps a crafted file
//! from reaching the network or other files (HLS or concat references); ffprobe checks the
//! duration, the frame size and the number of streams before anything is decoded; each run
//! has the item's deadline and is killed when it passes (`kill_on_drop`, also when the job
//! is abandoned); at most `transcode_concurrency` items are processed at once per node, each
//! ffmpeg with `transcode_threads` threads. Every output is written by ffmpeg with
//! `-map_metadata -1 -map_chapters -1`, so titles, GPS (`©xyz`), creation times and chapters
//! of the original never reach a viewer.
//!
//! Video gives a poster frame (JPEG, with a blurred teaser, blurhash and PDQ hash made by
//! [`crate::images`]), a short muted preview clip, and an HLS ladder: H.264/AAC in fMP4, one
//! file per rung addressed by byte ranges (`-hls_flags single_file`), so a rung is two
//! objects (playlist and media) and segment requests are plain range requests. Audio gives
//! AAC in MP4 and a waveform picture.

use crate::{images, Rendition};
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Why a video or audio item could not be processed; the item ends `failed` with this
/// message and [`AvFailure::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvFailure {
    #[error(
        "video and audio processing is not available on this server (ffmpeg is not installed)"
    )]
    Unavailable,
    #[error("the file could not be read as {0}")]
    Malformed(String),
    #[error("the file is {secs} s long, more than the limit of {max} s")]
    TooLong { secs: u64, max: u64 },
    #[error("the video is {width}×{height} pixels, more than the limit of {max} pixels")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error("the file has {streams} streams, more than the limit of {max}")]
    TooManyStreams { streams: u64, max: u32 },
    #[error("processing took longer than {0:?}")]
    Timeout(Duration),
    #[error("processing needed more memory than this server allows ({limit_mb} MiB)")]
    OutOfMemory { limit_mb: u64 },
}

impl AvFailure {
    /// The stable code stored with a failed item.
    pub fn code(&self) -> &'static str {
        match self {
            AvFailure::Unavailable => "video_processing_unavailable",
            AvFailure::Malformed(_) => "media_malformed",
            AvFailure::TooLong { .. } => "media_too_long",
            AvFailure::TooManyPixels { .. } => "media_too_many_pixels",
            AvFailure::TooManyStreams { .. } => "media_too_many_streams",
            AvFailure::Timeout(_) => "processing_timeout",
            AvFailure::OutOfMemory { .. } => "processing_out_of_memory",
        }
    }
}

/// The limits of `[media]` for video and audio.
#[derive(Debug, Clone)]
pub struct AvLimits {
    pub max_duration: Duration,
    pub max_pixels: u64,
    pub max_streams: u32,
    pub timeout: Duration,
    /// The address space of each ffmpeg or ffprobe run, in bytes (`RLIMIT_AS`); 0: none.
    pub memory_bytes: u64,
    pub threads: u32,
    pub heights: Vec<u32>,
    pub preview: Duration,
    /// The length of an HLS segment, in seconds.
    pub segment_secs: u32,
    /// Whether videos get the B variant of each segment ([`crate::abmark`]).
    pub marks: bool,
}

impl AvLimits {
    pub fn from_config(c: &fanz_config::media::MediaConfig) -> Self {
        let mut heights = c.hls_heights.clone();
        heights.sort_unstable();
        heights.dedup();
        AvLimits {
            max_duration: Duration::from_secs(c.max_duration_secs),
            max_pixels: c.max_video_pixels,
            max_streams: c.max_streams,
            timeout: Duration::from_secs(c.transcode_timeout_secs),
            memory_bytes: c.ffmpeg_memory_mb.saturating_mul(1 << 20),
            threads: c.transcode_threads.max(1),
            heights,
            preview: Duration::from_secs(u64::from(c.preview_secs)),
            segment_secs: c.hls_segment_secs.clamp(1, 10),
            marks: c.video_marks,
        }
    }
}

/// ffmpeg and ffprobe, found at start, with this node's limit on concurrent runs.
pub struct Av {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    slots: Arc<tokio::sync::Semaphore>,
    pub limits: AvLimits,
}

impl std::fmt::Debug for Av {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Av")
            .field("ffmpeg", &self.ffmpeg)
            .field("ffprobe", &self.ffprobe)
            .finish_non_exhaustive()
    }
}

/// Whether `program -version` runs (a quick, synchronous check made once at start).
fn runs(program: &Path) -> bool {
    std::process::Command::new(program)
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Av {
    /// ffmpeg and ffprobe as `[media]` names them, when both run; `None` (and a warning)
    /// otherwise: the node then refuses video and audio with `video_processing_unavailable`.
    pub fn detect(c: &fanz_config::media::MediaConfig) -> Option<Self> {
        if c.ffmpeg.trim().is_empty() || c.ffprobe.trim().is_empty() {
            tracing::info!("media.ffmpeg is empty: video and audio processing is off");
            return None;
        }
        let (ffmpeg, ffprobe) = (
            PathBuf::from(c.ffmpeg.trim()),
            PathBuf::from(c.ffprobe.trim()),
        );
        if !runs(&ffmpeg) || !runs(&ffprobe) {
            tracing::warn!(
                ffmpeg = %ffmpeg.display(),
                ffprobe = %ffprobe.display(),
                "ffmpeg or ffprobe does not run: video and audio processing is unavailable \
                 (install Debian's ffmpeg package)"
            );
            return None;
        }
        Some(Av {
            ffmpeg,
            ffprobe,
            slots: Arc::new(tokio::sync::Semaphore::new(
                c.transcode_concurrency.max(1) as usize
            )),
            limits: AvLimits::from_config(c),
        })
    }

    /// Wait for one of the node's processing slots; hold it while an item is processed.
    pub async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Run `program` with `args` until `deadline`: its standard output, or why it failed.
    /// Past the deadline, or when the caller stops waiting (a job abandoned), the process is
    /// killed ([`Running`]).
    async fn run(
        &self,
        program: &Path,
        args: Vec<OsString>,
        deadline: Instant,
        what: &str,
    ) -> Result<Vec<u8>, AvFailure> {
        // For the log (and the benchmark, which runs the same commands by hand).
        let command = shell_line(program, &args);
        let started = std::time::Instant::now();
        let mut cmd = std::process::Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        limit_memory(&mut cmd, self.limits.memory_bytes);
        let mut child = cmd.spawn().map_err(|e| {
            tracing::warn!(program = %program.display(), error = %e, "cannot start");
            AvFailure::Unavailable
        })?;
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>, cap: u64| {
            tokio::task::spawn_blocking(move || {
                let mut buf = Vec::new();
                if let Some(p) = pipe {
                    use std::io::Read;
                    let mut p = p.take(cap);
                    let _ = p.read_to_end(&mut buf);
                    // Whatever is beyond the cap is read and dropped, so the child never
                    // blocks on a full pipe.
                    let _ = std::io::copy(&mut p.into_inner(), &mut std::io::sink());
                }
                buf
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            16 << 20,
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            64 << 10,
        );
        let mut running = Running(Some(child));
        let status = loop {
            let child = running.0.as_mut().expect("running until it ends");
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => return Err(AvFailure::Malformed(format!("{what} ({e})"))),
            }
            if Instant::now() >= deadline {
                drop(running);
                return Err(AvFailure::Timeout(self.limits.timeout));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Ended: nothing to kill.
        running.0 = None;
        tracing::debug!(
            %command,
            elapsed_ms = started.elapsed().as_millis() as u64,
            success = status.success(),
            "ffmpeg ran"
        );
        let out = stdout.await.unwrap_or_default();
        if status.success() {
            return Ok(out);
        }
        let err = stderr.await.unwrap_or_default();
        let stderr = String::from_utf8_lossy(&err);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        // The file's own words stay out of the message a creator sees; the log keeps them.
        tracing::info!(program = %program.display(), %status, stderr = %last, "ffmpeg failed");
        if self.limits.memory_bytes > 0 && out_of_memory(&status, &stderr) {
            return Err(AvFailure::OutOfMemory {
                limit_mb: self.limits.memory_bytes >> 20,
            });
        }
        Err(AvFailure::Malformed(what.to_owned()))
    }

    /// What ffprobe says of `file`, read with the demuxer `format`.
    pub async fn probe(
        &self,
        file: &Path,
        format: &str,
        deadline: Instant,
    ) -> Result<Probe, AvFailure> {
        let args = os(&[
            "-v",
            "error",
            "-protocol_whitelist",
            "file",
            "-f",
            format,
            "-show_format",
            "-show_streams",
            "-of",
            "json",
        ])
        .into_iter()
        .chain([file.as_os_str().to_owned()])
        .collect();
        let out = self
            .run(&self.ffprobe, args, deadline, "video or audio")
            .await?;
        let v: Value = serde_json::from_slice(&out)
            .map_err(|_| AvFailure::Malformed("video or audio".into()))?;
        Ok(Probe::from_json(&v))
    }

    /// Check a probe against the limits, for `kind`.
    pub fn check(&self, p: &Probe, video: bool) -> Result<(), AvFailure> {
        let l = &self.limits;
        if p.streams > u64::from(l.max_streams) {
            return Err(AvFailure::TooManyStreams {
                streams: p.streams,
                max: l.max_streams,
            });
        }
        if p.duration_ms <= 0 {
            return Err(AvFailure::Malformed(
                "video or audio (it has no duration)".into(),
            ));
        }
        if p.duration_ms as u128 > l.max_duration.as_millis() {
            return Err(AvFailure::TooLong {
                secs: p.duration_ms as u64 / 1000,
                max: l.max_duration.as_secs(),
            });
        }
        if video {
            let Some((w, h)) = p.video else {
                return Err(AvFailure::Malformed(
                    "video (it has no video stream)".into(),
                ));
            };
            if u64::from(w) * u64::from(h) > l.max_pixels {
                return Err(AvFailure::TooManyPixels {
                    width: w,
                    height: h,
                    max: l.max_pixels,
                });
            }
            if w < 2 || h < 2 {
                return Err(AvFailure::Malformed("video (its frames are empty)".into()));
            }
        } else if !p.audio {
            return Err(AvFailure::Malformed(
                "audio (it has no audio stream)".into(),
            ));
        }
        Ok(())
    }

    /// The common start of every ffmpeg run over an untrusted input.
    fn input(&self, format: &str, input: &Path, seek: Option<Duration>) -> Vec<OsString> {
        self.inputs(format, input, seek, &[])
    }

    /// [`Av::input`] with pictures of our own after it (inputs 1, 2, …: the watermarks).
    fn inputs(
        &self,
        format: &str,
        input: &Path,
        seek: Option<Duration>,
        pictures: &[&Overlay],
    ) -> Vec<OsString> {
        let mut a = os(&[
            "-nostdin",
            "-hide_banner",
            "-v",
            "error",
            "-threads",
            &self.limits.threads.to_string(),
            "-protocol_whitelist",
            "file",
        ]);
        if let Some(t) = seek {
            a.extend(os(&["-ss", &format!("{:.3}", t.as_secs_f64())]));
        }
        a.extend(os(&["-f", format, "-i"]));
        a.push(input.as_os_str().to_owned());
        for p in pictures {
            a.extend(os(&["-f", "png_pipe", "-i"]));
            a.push(p.path.as_os_str().to_owned());
        }
        a.extend(os(&[
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
            "-threads",
            &self.limits.threads.to_string(),
        ]));
        a
    }

    /// Process a video: poster, teaser, preview clip and HLS ladder, written under `out`.
    /// With `watermark`, the poster, the preview and every rung carry that text
    /// ([`crate::watermark`]).
    pub async fn video(
        &self,
        input: &Path,
        format: &str,
        out: &Path,
        deadline: Instant,
        watermark: Option<&str>,
    ) -> Result<Processed, AvFailure> {
        let probe = self.probe(input, format, deadline).await?;
        self.check(&probe, true)?;
        let (w, h) = probe.video.expect("checked");
        let duration = Duration::from_millis(probe.duration_ms as u64);
        let at = poster_at(duration);

        // Poster frame, as PNG; the image code makes the JPEG, teaser and hashes from it.
        let png = self.frame_png(input, format, at, deadline).await?;
        if png.is_empty() {
            return Err(AvFailure::Malformed("video (no poster frame)".into()));
        }
        let text = watermark.map(str::to_owned);
        let still = tokio::task::spawn_blocking(move || images::still(&png, text.as_deref()))
            .await
            .map_err(|_| AvFailure::Malformed("video (its poster frame)".into()))?
            .map_err(|e| AvFailure::Malformed(format!("video ({e})")))?;
        let mut files: Vec<(Rendition, Output)> = still
            .files
            .into_iter()
            .map(|(r, b)| (r, Output::Bytes(b)))
            .collect();

        // A muted preview clip at the lowest rung.
        let low = self.limits.heights.first().copied().unwrap_or(240);
        let (pw, ph) = rung_size(w, h, low.min(w.min(h)));
        let rungs = ladder(w, h, &self.limits.heights);
        // The watermark pictures: one for the preview, one per rung.
        let (preview_mark, rung_marks) = match watermark {
            Some(text) => {
                let dir = out.join("watermark");
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(|e| AvFailure::Malformed(format!("video (work directory: {e})")))?;
                let preview_mark = Overlay::write(&dir, "preview", text, pw, ph).await?;
                let mut marks = Vec::with_capacity(rungs.len());
                for (i, &(rw, rh, _)) in rungs.iter().enumerate() {
                    marks.push(Overlay::write(&dir, &format!("v{i}"), text, rw, rh).await?);
                }
                (Some(preview_mark), marks)
            }
            None => (None, Vec::new()),
        };
        let preview = out.join("preview.mp4");
        let preview_len = self.limits.preview.min(duration);
        let mut a = self.inputs(
            format,
            input,
            Some(at.min(duration.saturating_sub(preview_len))),
            preview_mark
                .as_slice()
                .iter()
                .collect::<Vec<_>>()
                .as_slice(),
        );
        let scaled = format!("scale={pw}:{ph},setsar=1");
        let graph = match &preview_mark {
            Some(m) => format!(
                "[0:v:0]{scaled}[c];[c][1:v]{},format=yuv420p[v]",
                m.filter()
            ),
            None => format!("[0:v:0]{scaled},format=yuv420p[v]"),
        };
        a.extend(os(&[
            "-t",
            &format!("{:.3}", preview_len.as_secs_f64()),
            "-filter_complex",
            &graph,
            "-map",
            "[v]",
            "-an",
            "-sn",
            "-dn",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "28",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            "-y",
        ]));
        a.push(preview.as_os_str().to_owned());
        self.run(&self.ffmpeg, a, deadline, "video").await?;
        files.push((
            file_rendition("preview.mp4", "mp4", pw, ph, &preview).await?,
            Output::File(preview),
        ));

        // The ladder.
        let hls = out.join("hls");
        tokio::fs::create_dir_all(&hls)
            .await
            .map_err(|e| AvFailure::Malformed(format!("video (work directory: {e})")))?;
        let marks = self.limits.marks;
        let args = self.ladder_args(input, format, &rungs, probe.audio, &hls, marks, &rung_marks);
        self.run(&self.ffmpeg, args, deadline, "video").await?;
        if marks {
            // ffmpeg lists the B variants in the master playlist too; players must never
            // see them (each viewer's rung playlist picks A or B per segment).
            let path = hls.join("master.m3u8");
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| AvFailure::Malformed(format!("video (its master playlist: {e})")))?;
            tokio::fs::write(&path, crate::abmark::without_b(&text))
                .await
                .map_err(|e| AvFailure::Malformed(format!("video (its master playlist: {e})")))?;
        }
        files.push((
            file_rendition("hls/master.m3u8", "m3u8", w, h, &hls.join("master.m3u8")).await?,
            Output::File(hls.join("master.m3u8")),
        ));
        let variants: &[&str] = if marks { &["", "b"] } else { &[""] };
        for (i, &(rw, rh, _)) in rungs.iter().enumerate() {
            for (ext, format) in variants.iter().flat_map(|v| {
                [("m3u8", "m3u8"), ("mp4", "mp4")].map(|(e, f)| (format!("{v}.{e}"), f))
            }) {
                let name = format!("v{i}{ext}");
                let path = hls.join(&name);
                files.push((
                    file_rendition(&format!("hls/{name}"), format, rw, rh, &path).await?,
                    Output::File(path),
                ));
            }
        }
        Ok(Processed {
            width: Some(w),
            height: Some(h),
            duration_ms: probe.duration_ms,
            blurhash: still.blurhash,
            pdq: still.pdq,
            files,
        })
    }

    /// The ffmpeg arguments of an HLS ladder (also what the benchmark runs by hand).
    #[allow(clippy::too_many_arguments)]
    pub fn ladder_args(
        &self,
        input: &Path,
        format: &str,
        rungs: &[(u32, u32, u32)],
        audio: bool,
        dir: &Path,
        marks: bool,
        watermarks: &[Overlay],
    ) -> Vec<OsString> {
        let pictures: Vec<&Overlay> = watermarks.iter().take(rungs.len()).collect();
        let mut a = self.inputs(format, input, None, &pictures);
        let n = rungs.len();
        let mut graph = format!("[0:v:0]split={n}");
        for i in 0..n {
            graph.push_str(&format!("[s{i}]"));
        }
        for (i, (w, h, _)) in rungs.iter().enumerate() {
            if let Some(m) = pictures.get(i) {
                // The watermark goes on the scaled rung before anything else, so A and B
                // carry the same one.
                graph.push_str(&format!(
                    ";[s{i}]scale={w}:{h},setsar=1[c{i}];[c{i}][{}:v]{}[s{i}w]",
                    i + 1,
                    m.filter()
                ));
                if marks {
                    graph.push_str(&format!(
                        ";[s{i}w]format=yuv420p,split=2[o{i}][q{i}];{}",
                        crate::abmark::b_filter(&format!("q{i}"), &format!("b{i}"), *w, *h)
                    ));
                } else {
                    graph.push_str(&format!(";[s{i}w]format=yuv420p[o{i}]"));
                }
            } else if marks {
                // Scaled once, then encoded twice: as it is (A) and with the faint pattern
                // (B), with the same settings, so the segments fall at the same instants.
                graph.push_str(&format!(
                    ";[s{i}]scale={w}:{h},setsar=1,format=yuv420p,split=2[o{i}][q{i}];{}",
                    crate::abmark::b_filter(&format!("q{i}"), &format!("b{i}"), *w, *h)
                ));
            } else {
                graph.push_str(&format!(
                    ";[s{i}]scale={w}:{h},setsar=1,format=yuv420p[o{i}]"
                ));
            }
        }
        a.extend(os(&["-filter_complex", &graph]));
        let mut map = Vec::new();
        // Output streams: the A rungs, then (when marked) the B rungs, named `<i>` and
        // `<i>b` (`v0.mp4`, `v0b.mp4`, …).
        let outputs = rungs
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("o{i}"), i.to_string(), r))
            .chain(
                rungs
                    .iter()
                    .enumerate()
                    .filter(|_| marks)
                    .map(|(i, r)| (format!("b{i}"), format!("{i}b"), r)),
            );
        for (i, (label, name, (_, _, kbps))) in outputs.enumerate() {
            a.extend(os(&["-map", &format!("[{label}]")]));
            if audio {
                a.extend(os(&["-map", "0:a:0"]));
                map.push(format!("v:{i},a:{i},name:{name}"));
            } else {
                map.push(format!("v:{i},name:{name}"));
            }
            a.extend(os(&[
                &format!("-b:v:{i}"),
                &format!("{kbps}k"),
                &format!("-maxrate:v:{i}"),
                &format!("{}k", kbps * 3 / 2),
                &format!("-bufsize:v:{i}"),
                &format!("{}k", kbps * 2),
            ]));
        }
        a.extend(os(&[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "high",
            "-force_key_frames",
            &format!(
                "expr:gte(t,n_forced*{})",
                keyframe_secs(self.limits.segment_secs)
            ),
            "-sc_threshold",
            "0",
            // x264's version and settings string (an SEI unit) is dropped too.
            "-bsf:v",
            "filter_units=remove_types=6",
        ]));
        if audio {
            a.extend(os(&["-c:a", "aac", "-b:a", "128k", "-ac", "2"]));
        }
        a.extend(os(&[
            "-sn",
            "-dn",
            "-f",
            "hls",
            "-hls_time",
            &self.limits.segment_secs.to_string(),
            "-hls_playlist_type",
            "vod",
            "-hls_segment_type",
            "fmp4",
            "-hls_flags",
            "single_file",
            "-master_pl_name",
            "master.m3u8",
            "-var_stream_map",
            &map.join(" "),
            "-hls_segment_filename",
        ]));
        a.push(dir.join("v%v.mp4").into_os_string());
        a.push(dir.join("v%v.m3u8").into_os_string());
        a
    }

    /// One frame of `input` at `at`, at most 1280 wide, as PNG (the poster, and for finding
    /// which video a recording is of).
    pub async fn frame_png(
        &self,
        input: &Path,
        format: &str,
        at: Duration,
        deadline: Instant,
    ) -> Result<Vec<u8>, AvFailure> {
        let mut a = self.input(format, input, Some(at));
        a.extend(os(&[
            "-map",
            "0:v:0",
            "-frames:v",
            "1",
            "-vf",
            "scale='min(1280,iw)':-2",
            "-f",
            "image2",
            "-c:v",
            "png",
            "pipe:1",
        ]));
        self.run(&self.ffmpeg, a, deadline, "video").await
    }

    /// The frames of `input`'s first video stream from its first frame on, `fps` a second,
    /// each shrunk to `w`×`h` greyscale (one byte a pixel, frame after frame). At most
    /// 16 MiB are kept: choose `fps` so the whole length fits.
    pub async fn gray_frames(
        &self,
        input: &Path,
        format: &str,
        (w, h): (u32, u32),
        fps: f64,
        deadline: Instant,
    ) -> Result<Vec<u8>, AvFailure> {
        let mut a = self.input(format, input, None);
        a.extend(os(&[
            "-map",
            "0:v:0",
            "-an",
            "-sn",
            "-dn",
            "-vf",
            &format!("setpts=PTS-STARTPTS,fps={fps:.4},scale={w}:{h}:flags=area,format=gray"),
            "-f",
            "rawvideo",
            "pipe:1",
        ]));
        self.run(&self.ffmpeg, a, deadline, "video").await
    }

    /// Process audio: AAC in MP4 and a waveform picture, written under `out`.
    pub async fn audio(
        &self,
        input: &Path,
        format: &str,
        out: &Path,
        deadline: Instant,
    ) -> Result<Processed, AvFailure> {
        let probe = self.probe(input, format, deadline).await?;
        self.check(&probe, false)?;
        let m4a = out.join("audio.m4a");
        let mut a = self.input(format, input, None);
        a.extend(os(&[
            "-map",
            "0:a:0",
            "-vn",
            "-sn",
            "-dn",
            "-c:a",
            "aac",
            "-b:a",
            "160k",
            "-ac",
            "2",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            "-y",
        ]));
        a.push(m4a.as_os_str().to_owned());
        self.run(&self.ffmpeg, a, deadline, "audio").await?;
        let (ww, wh) = (1200, 200);
        let wave = out.join("waveform.png");
        let mut a = self.input(format, input, None);
        a.extend(os(&[
            "-filter_complex",
            &format!(
                "[0:a:0]aformat=channel_layouts=mono,showwavespic=s={ww}x{wh}:colors=0x8f8f8f[w]"
            ),
            "-map",
            "[w]",
            "-frames:v",
            "1",
            "-f",
            "image2",
            "-c:v",
            "png",
            "-y",
        ]));
        a.push(wave.as_os_str().to_owned());
        self.run(&self.ffmpeg, a, deadline, "audio").await?;
        Ok(Processed {
            width: None,
            height: None,
            duration_ms: probe.duration_ms,
            blurhash: None,
            pdq: None,
            files: vec![
                (
                    file_rendition("audio.m4a", "m4a", 0, 0, &m4a).await?,
                    Output::File(m4a),
                ),
                (
                    file_rendition("waveform.png", "png", ww, wh, &wave).await?,
                    Output::File(wave),
                ),
            ],
        })
    }
}

/// Where a video's poster frame is taken: a little way in (the first frame is often black).
pub fn poster_at(duration: Duration) -> Duration {
    (duration / 10).min(Duration::from_secs(3))
}

/// The keyframe interval for `segment` second segments: 2 s, or 1 s when that does not
/// divide the segment, so every segment starts on a keyframe at the same instant in every
/// rung and variant.
fn keyframe_secs(segment: u32) -> u32 {
    if segment % 2 == 0 {
        2
    } else {
        1
    }
}

/// A watermark picture of our own ([`crate::watermark`]) written for one output size, and
/// where it goes on it.
#[derive(Debug, Clone)]
pub struct Overlay {
    pub path: PathBuf,
    pub x: i64,
    pub y: i64,
}

impl Overlay {
    /// Draw `text` for a `w`×`h` output into `<dir>/<name>.png`.
    async fn write(dir: &Path, name: &str, text: &str, w: u32, h: u32) -> Result<Self, AvFailure> {
        let text = text.to_owned();
        let mark = tokio::task::spawn_blocking(move || crate::watermark::render(&text, w))
            .await
            .map_err(|_| AvFailure::Malformed("video (drawing the watermark)".into()))?;
        let (x, y) = crate::watermark::position(w, h, mark.width(), mark.height());
        let mut png = Vec::new();
        image::DynamicImage::ImageRgba8(mark)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| AvFailure::Malformed(format!("video (drawing the watermark: {e})")))?;
        let path = dir.join(format!("{name}.png"));
        tokio::fs::write(&path, png)
            .await
            .map_err(|e| AvFailure::Malformed(format!("video (work directory: {e})")))?;
        Ok(Overlay { path, x, y })
    }

    /// The `overlay` filter that puts it in place (its still picture repeats over every
    /// frame).
    fn filter(&self) -> String {
        format!(
            "overlay=x={}:y={}:format=auto:eof_action=repeat",
            self.x, self.y
        )
    }
}

/// Give the child `command` starts an address space of at most `bytes` (`RLIMIT_AS`; 0: no
/// limit), so a file that makes ffmpeg allocate without end fails it, not the server.
fn limit_memory(command: &mut std::process::Command, bytes: u64) {
    if bytes == 0 {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let limit = libc::rlimit {
            rlim_cur: bytes as libc::rlim_t,
            rlim_max: bytes as libc::rlim_t,
        };
        // SAFETY: the closure runs in the child between fork and exec; it only calls
        // setrlimit, which is async-signal-safe, on a value prepared before the fork, and
        // allocates nothing.
        unsafe {
            command.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// Whether a run that failed under a memory limit ran out of it: it died of a signal (an
/// allocation that was not checked), or its error output speaks of memory, allocation, the
/// loader mapping a library, threads that could not start ("resource temporarily
/// unavailable") or an encoder that could not be opened (the encoders' arguments are ours,
/// so that is resources). ffmpeg does not always say why an allocation failed.
fn out_of_memory(status: &std::process::ExitStatus, stderr: &str) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if status.signal().is_some() {
            return true;
        }
    }
    #[cfg(not(unix))]
    let _ = status;
    memory_words(stderr)
}

fn memory_words(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    [
        "cannot allocate memory",
        "out of memory",
        "failed to map segment",
        "malloc",
        "enomem",
        "resource temporarily unavailable",
        "error while opening encoder",
    ]
    .iter()
    .any(|w| s.contains(w))
}

/// A child process that is killed (and reaped) when dropped before it ended.
struct Running(Option<std::process::Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A command as a POSIX shell line, each word in single quotes.
fn shell_line(program: &Path, args: &[OsString]) -> String {
    std::iter::once(program.as_os_str())
        .chain(args.iter().map(|a| a.as_os_str()))
        .map(|w| format!("'{}'", w.to_string_lossy().replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

async fn file_rendition(
    name: &str,
    format: &str,
    width: u32,
    height: u32,
    path: &Path,
) -> Result<Rendition, AvFailure> {
    let bytes = tokio::fs::metadata(path)
        .await
        .map_err(|e| AvFailure::Malformed(format!("its output {name} is missing: {e}")))?
        .len();
    Ok(Rendition {
        name: name.to_owned(),
        format: format.to_owned(),
        width,
        height,
        bytes,
        teaser: false,
    })
}

/// A derived file, in memory or on disk.
#[derive(Debug)]
pub enum Output {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// The outcome of processing a video or audio item.
#[derive(Debug)]
pub struct Processed {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: i64,
    pub blurhash: Option<String>,
    pub pdq: Option<(crate::pdq::Pdq, u8)>,
    pub files: Vec<(Rendition, Output)>,
}

/// What ffprobe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub duration_ms: i64,
    pub streams: u64,
    /// The first video stream's size as displayed (after its rotation).
    pub video: Option<(u32, u32)>,
    pub audio: bool,
}

impl Probe {
    fn from_json(v: &Value) -> Self {
        let secs = |x: &Value| {
            x.as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|d| d.is_finite() && *d >= 0.0)
        };
        let streams = v["streams"].as_array().cloned().unwrap_or_default();
        let mut duration = secs(&v["format"]["duration"]);
        let mut video = None;
        let mut audio = false;
        for s in &streams {
            match s["codec_type"].as_str() {
                // Cover art of an audio file is a video stream with one picture.
                Some("video") if video.is_none() && s["disposition"]["attached_pic"] != 1 => {
                    let (w, h) = (
                        s["width"].as_u64().unwrap_or(0) as u32,
                        s["height"].as_u64().unwrap_or(0) as u32,
                    );
                    let rotation = s["side_data_list"]
                        .as_array()
                        .and_then(|l| l.iter().find_map(|d| d["rotation"].as_i64()))
                        .or_else(|| {
                            s["tags"]["rotate"]
                                .as_str()
                                .and_then(|r| r.parse::<i64>().ok())
                        })
                        .unwrap_or(0);
                    video = Some(if rotation.rem_euclid(180) == 90 {
                        (h, w)
                    } else {
                        (w, h)
                    });
                }
                Some("audio") => audio = true,
                _ => {}
            }
            if duration.is_none() {
                duration = secs(&s["duration"]);
            }
        }
        Probe {
            duration_ms: duration
                .map(|d| (d * 1000.0).min(i64::MAX as f64) as i64)
                .unwrap_or(0),
            streams: v["format"]["nb_streams"]
                .as_u64()
                .unwrap_or(streams.len() as u64),
            video,
            audio,
        }
    }
}

/// ffmpeg's demuxer for a sniffed type (never probed: only these are ever opened).
pub fn demuxer(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "video/mp4" | "video/quicktime" | "audio/mp4" => "mov",
        "video/webm" => "matroska",
        "audio/mpeg" => "mp3",
        "audio/ogg" => "ogg",
        "audio/wav" => "wav",
        _ => return None,
    })
}

/// The rungs of the ladder for a `w`×`h` source: `(width, height, kbps)` for each configured
/// height up to the source's shorter side (at least one rung), both sides even.
pub fn ladder(w: u32, h: u32, heights: &[u32]) -> Vec<(u32, u32, u32)> {
    let short = w.min(h);
    let mut picked: Vec<u32> = heights.iter().copied().filter(|&x| x <= short).collect();
    if picked.is_empty() {
        picked.push(heights.first().copied().unwrap_or(240).min(short));
    }
    picked
        .into_iter()
        .map(|rung| {
            let (rw, rh) = rung_size(w, h, rung);
            // About 2.5 kbit/s per thousand pixels: 5 Mbit/s at 1080p, 2.3 at 720p.
            let kbps = ((u64::from(rw) * u64::from(rh) * 5 / 2000) as u32).clamp(300, 12_000);
            (rw, rh, kbps)
        })
        .collect()
}

/// The size of a rung whose shorter side is `short`, keeping the aspect ratio, even sides.
fn rung_size(w: u32, h: u32, short: u32) -> (u32, u32) {
    let even = |x: u64| (x.div_ceil(2) * 2).max(2) as u32;
    let short = u64::from(short.max(2));
    if w >= h {
        (
            even(u64::from(w) * short / u64::from(h.max(1))),
            even(short),
        )
    } else {
        (
            even(short),
            even(u64::from(h) * short / u64::from(w.max(1))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladders_follow_the_source() {
        let h = [240, 360, 480, 720, 1080];
        let sizes = |w, hh| -> Vec<(u32, u32)> {
            ladder(w, hh, &h)
                .into_iter()
                .map(|(a, b, _)| (a, b))
                .collect()
        };
        assert_eq!(
            sizes(1920, 1080),
            [
                (426, 240),
                (640, 360),
                (854, 480),
                (1280, 720),
                (1920, 1080)
            ]
        );
        assert_eq!(sizes(640, 360), [(426, 240), (640, 360)]);
        // Portrait: the shorter side is the rung.
        assert_eq!(
            sizes(720, 1280),
            [(240, 426), (360, 640), (480, 854), (720, 1280)]
        );
        // Smaller than the lowest rung: one rung at its own size.
        assert_eq!(sizes(160, 90), [(160, 90)]);
        let kbps: Vec<u32> = ladder(1920, 1080, &h).iter().map(|r| r.2).collect();
        assert!(kbps.windows(2).all(|w| w[0] < w[1]), "{kbps:?}");
    }

    #[test]
    fn probes_are_read() {
        let v: Value = serde_json::json!({
            "streams": [
                {"codec_type": "video", "width": 1920, "height": 1080,
                 "side_data_list": [{"rotation": -90}]},
                {"codec_type": "audio"}
            ],
            "format": {"duration": "12.345000", "nb_streams": 2}
        });
        let p = Probe::from_json(&v);
        assert_eq!(
            p,
            Probe {
                duration_ms: 12_345,
                streams: 2,
                video: Some((1080, 1920)),
                audio: true
            }
        );
        let cover: Value = serde_json::json!({
            "streams": [
                {"codec_type": "audio", "duration": "3.0"},
                {"codec_type": "video", "width": 500, "height": 500, "disposition": {"attached_pic": 1}}
            ],
            "format": {}
        });
        let p = Probe::from_json(&cover);
        assert_eq!((p.video, p.audio, p.duration_ms), (None, true, 3000));
    }

    #[test]
    fn running_out_of_memory_is_recognised() {
        // What ffmpeg 5.1 says under RLIMIT_AS limits from 64 to 500 MiB.
        for said in [
            "ffprobe: error while loading shared libraries: libavcodec.so.59: failed to map segment from shared object",
            "Failed to inject frame into filter network: Resource temporarily unavailable",
            "x264 [error]: malloc of size 552384 failed\nError submitting video frame to the encoder",
            "Error initializing output stream 0:0 -- Error while opening encoder for output stream #0:0 - maybe incorrect parameters such as bit_rate, rate, width or height",
        ] {
            assert!(memory_words(said), "{said}");
        }
        assert!(!memory_words(
            "moov atom not found\nclip.mp4: Invalid data found when processing input"
        ));
    }

    #[test]
    fn demuxers_are_named_not_probed() {
        assert_eq!(demuxer("video/mp4"), Some("mov"));
        assert_eq!(demuxer("video/webm"), Some("matroska"));
        assert_eq!(demuxer("audio/wav"), Some("wav"));
        assert_eq!(demuxer("image/jpeg"), None);
    }
}
