#!/usr/bin/env bash
# Video processing: a 1080p clip (60 s by default) uploaded to fanz and processed into its
# poster, preview clip and HLS ladder, against the same ffmpeg commands run by hand one after
# the other; then the delivery of the top rung's media file by range requests, as a player
# asks for it. Loopback only, SQLite, the media store in a directory. Needs ffmpeg and python3.
#
#   cargo build --release -p fanz && bash bench/media.sh
#   BIN=path/to/fanz SECS=20 bash bench/media.sh
#
# fanz logs each ffmpeg command it runs (fanz_media=debug, JSON); the "by hand" column runs
# exactly those command lines from a shell, with the same input file, in the same order.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BIN:-${CARGO_TARGET_DIR:-target}/release/fanz}"
[ -x "$bin" ] || { echo "build first: cargo build --release -p fanz (or set BIN)" >&2; exit 1; }
secs="${SECS:-60}"
port=18193
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
ls -l "$work/clip.mp4" | awk '{printf "%.1f MiB\n", $5 / 1048576}'

FANZ_DATA_DIR="$work/data" FANZ_LISTEN="127.0.0.1:$port" FANZ_LOG="warn,fanz_media=debug" \
  FANZ_LOG_FORMAT=json FANZ_COMPLIANCE__SANDBOX_VERIFICATION=true \
  FANZ_MEDIA__MAX_UPLOAD_BYTES=4294967296 "$bin" serve >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 500); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.02
done

PYTHONPATH=bench python3 - "$port" "$work" <<'PY'
import json, subprocess, sys, time
from benchapi import Api
port, work = int(sys.argv[1]), sys.argv[2]
api = Api(port)
base, call = api.base, api.call
tok = api.creator("bench_vid")
t0 = time.monotonic()
out = subprocess.run(["curl", "-fsS", "-H", f"authorization: Bearer {tok}",
                      "-F", f"file=@{work}/clip.mp4", base + "/api/v1/media"],
                     check=True, capture_output=True).stdout
uploaded = time.monotonic()
mid = json.loads(out)["id"]
item = api.wait_processed(mid, tok)
ready = time.monotonic()
assert item["state"] == "ready", item
print(f"upload (loopback): {uploaded - t0:.2f} s")
print(f"fanz, upload answered to ready (polled every 0.1 s): {ready - uploaded:.2f} s")
top = max((r for r in item["renditions"] if r["name"].endswith(".mp4") and r["name"].startswith("hls/")),
          key=lambda r: r["width"])
json.dump({"token": tok, "url": top["url"], "bytes": top["bytes"],
           "rungs": [r["name"] for r in item["renditions"] if r["name"].endswith(".m3u8")]},
          open(f"{work}/ready.json", "w"))
PY

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
runs = []
for line in open(f"{work}/server.log"):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    f = e.get("fields", {})
    if f.get("message") == "ffmpeg ran":
        runs.append((f["command"], int(f["elapsed_ms"])))
with open(f"{work}/by-hand.sh", "w") as out:
    for cmd, _ in runs:
        out.write(cmd + "\n")
total = sum(ms for _, ms in runs)
print(f"fanz, ffmpeg/ffprobe runs inside the job: {len(runs)}, {total / 1000:.2f} s in all")
for cmd, ms in runs:
    words = cmd.split("' '")
    what = "ffprobe" if "ffprobe" in words[0] else ("ladder" if "'hls'" in cmd or "hls'" in cmd else
           ("poster" if "image2" in cmd else "preview"))
    print(f"  {what:8} {ms / 1000:7.2f} s")
PY

# The same command lines by hand, on the original as fanz stored it (the job's copy is gone;
# the stored original has the same bytes), into the same kind of directories.
orig=$(find "$work/data/media" -name original | head -1)
mkdir -p "$work/hand/out/hls"
sed -e "s#'[^']*/media-work/[^/']*/original'#'$orig'#g" \
    -e "s#'[^']*/media-work/[^/']*/out/#'$work/hand/out/#g" "$work/by-hand.sh" >"$work/hand.sh"
start=$(date +%s.%N)
bash "$work/hand.sh" >/dev/null
end=$(date +%s.%N)
python3 -c "print(f'by hand, the same {sum(1 for _ in open(\"$work/hand.sh\"))} commands in a row: {$end - $start:.2f} s')"
ls "$work/hand/out/hls" | tr '\n' ' '; echo

echo "== delivery: the top rung's media file by 1 MiB range requests, 4 clients, 10 s"
python3 - "$port" "$work" <<'PY'
import http.client, json, sys, threading, time
port, work = int(sys.argv[1]), sys.argv[2]
r = json.load(open(f"{work}/ready.json"))
size, url, tok = r["bytes"], r["url"], r["token"]
chunk = 1 << 20
stop = time.monotonic() + 10
counts, lock = [0, 0, 0], threading.Lock()
lat = []
def client(i):
    c = http.client.HTTPConnection("127.0.0.1", port)
    off = (i * 7 * chunk) % size
    while time.monotonic() < stop:
        end = min(off + chunk, size) - 1
        t = time.monotonic()
        c.request("GET", url, headers={"authorization": f"Bearer {tok}", "range": f"bytes={off}-{end}"})
        res = c.getresponse()
        body = res.read()
        d = time.monotonic() - t
        with lock:
            counts[0] += 1
            counts[1] += len(body)
            counts[2] += res.status != 206
            lat.append(d)
        off = (end + 1) % size
threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
lat.sort()
print(f"{counts[0]} requests, {counts[1] / 10 / 1048576:.0f} MiB/s, not 206: {counts[2]}, "
      f"p50 {lat[len(lat) // 2] * 1000:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms")
PY
echo "server RSS after: $(awk '$1 == "VmRSS:" { printf "%.1f MiB", $2 / 1024 }' /proc/$pid/status), peak $(awk '$1 == "VmHWM:" { printf "%.1f MiB", $2 / 1024 }' /proc/$pid/status)"
