#!/usr/bin/env bash
# A/B video marks: the HLS ladder of a 1080p clip (60 s by default) processed without and with
# the B variants (`[media] video_marks`), then a fan's stream of the marked one recorded
# through HTTP, re-encoded at 80 % size (x264 CRF 28) and traced by `fanz media trace`.
# Loopback only, SQLite, the media store in a directory. Needs ffmpeg and python3.
#
#   cargo build --release -p fanz && bash bench/abmark.sh
#   BIN=path/to/fanz SECS=20 bash bench/abmark.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BIN:-${CARGO_TARGET_DIR:-target}/release/fanz}"
[ -x "$bin" ] || { echo "build first: cargo build --release -p fanz (or set BIN)" >&2; exit 1; }
secs="${SECS:-60}"
port=18194
work=$(mktemp -d)
cleanup() {
  kill "${pid:-}" 2>/dev/null || true
  wait "${pid:-}" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== reference clip: ${secs} s of testsrc2 at 1920x1080, 30 fps, H.264 + AAC"
ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$secs" \
  -f lavfi -i "sine=frequency=440:duration=$secs" -c:v libx264 -preset veryfast -crf 23 \
  -pix_fmt yuv420p -c:a aac -shortest "$work/clip.mp4"

start_server() { # $1: data dir, $2: video_marks
  FANZ_DATA_DIR="$1" FANZ_LISTEN="127.0.0.1:$port" FANZ_LOG="warn,fanz_media=debug" \
    FANZ_LOG_FORMAT=json FANZ_COMPLIANCE__SANDBOX_VERIFICATION=true \
    FANZ_MEDIA__VIDEO_MARKS="$2" FANZ_MEDIA__MAX_UPLOAD_BYTES=4294967296 \
    "$bin" serve >"$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 500); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return
    sleep 0.02
  done
  echo "the server did not start" >&2; exit 1
}

for marks in false true; do
  data="$work/data-$marks"
  start_server "$data" "$marks"
  echo "== video_marks = $marks"
  PYTHONPATH=bench python3 - "$port" "$work" "$marks" <<'PY'
import json, subprocess, sys, time
from benchapi import Api
port, work, marks = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "true"
api = Api(port)
base, call, account = api.base, api.call, api.account
tok = api.creator("bench_ab")
out = subprocess.run(["curl", "-fsS", "-H", f"authorization: Bearer {tok}",
                      "-F", f"file=@{work}/clip.mp4", base + "/api/v1/media"],
                     check=True, capture_output=True).stdout
uploaded = time.monotonic()
mid = json.loads(out)["id"]
item = api.wait_processed(mid, tok)
ready = time.monotonic()
assert item["state"] == "ready", item
hls = sum(r["bytes"] for r in item["renditions"] if r["name"].startswith("hls/"))
print(f"upload answered to ready (polled every 0.1 s): {ready - uploaded:.2f} s; HLS files {hls / 1048576:.1f} MiB")
if not marks:
    sys.exit(0)
post = call("POST", "/api/v1/posts", {"text": "bench clip", "visibility": "public",
                                      "media": [mid], "publish": True}, tok)["id"]
fan = account("bench_fan")
view = call("GET", f"/api/v1/posts/{post}", token=fan)
master = call("GET", view["media"][0]["url"], token=fan, raw=True).decode()
rungs = [l for l in master.splitlines() if l and not l.startswith("#")]
top = call("GET", rungs[-1], token=fan, raw=True).decode()
stream, rng = bytearray(), None
for line in top.splitlines():
    if line.startswith("#EXT-X-MAP:"):
        uri = line.split('URI="')[1].split('"')[0]
        l, o = map(int, line.split('BYTERANGE="')[1].split('"')[0].split("@"))
        stream += call("GET", uri, token=fan, raw=True, headers={"range": f"bytes={o}-{o + l - 1}"})
    elif line.startswith("#EXT-X-BYTERANGE:"):
        l, o = map(int, line.split(":")[1].split("@"))
        rng = (o, l)
    elif line and not line.startswith("#"):
        o, l = rng
        stream += call("GET", line, token=fan, raw=True, headers={"range": f"bytes={o}-{o + l - 1}"})
open(f"{work}/played.mp4", "wb").write(stream)
print(f"the fan's top rung: {top.count('#EXTINF')} segments, {top.count('b.mp4')} of them B, {len(stream) / 1048576:.1f} MiB")
PY
  python3 - "$data.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        f = json.loads(line).get("fields", {})
    except ValueError:
        continue
    if f.get("message") == "ffmpeg ran" and "'hls'" in f.get("command", ""):
        print(f"the ladder's ffmpeg run: {int(f['elapsed_ms']) / 1000:.2f} s")
PY
  if [ "$marks" = true ]; then
    # What a leaker does (the preset only makes the benchmark quicker; the trace does not care).
    ffmpeg -nostdin -v error -y -i "$work/played.mp4" -vf scale=iw*0.8:-2 -c:v libx264 \
      -preset veryfast -crf 28 -c:a aac "$work/recording.mp4"
    t0=$(date +%s.%N)
    FANZ_DATA_DIR="$data" FANZ_LOG=warn "$bin" media trace "$work/recording.mp4" || true
    t1=$(date +%s.%N)
    python3 -c "print(f'fanz media trace (1536x864 recording): {$t1 - $t0:.2f} s')"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
done
