#!/usr/bin/env bash
# Resumable upload throughput: a 2 GiB file sent through tus over loopback to a fresh server
# (SQLite, the media store in a directory), with the server's RSS sampled every 0.5 s to show
# the body is streamed to the store, never held whole. Two ways, each on its own fresh server:
#
# - chunks: PATCHes of CHUNK_MIB (8 MiB, what the studio's tus-js-client sends), one after
#   the other on one keep-alive connection (python's http.client, reading the file in 1 MiB
#   blocks);
# - one PATCH: the whole file in a single request, `curl -X PATCH -T file`. A request must
#   have its answer within `[http] request_timeout_secs` (60 s), so this run raises it to
#   600 s (FANZ_HTTP__REQUEST_TIMEOUT_SECS); the chunked run keeps every default.
#
# The file is sparse (reading it costs the client no disk): an MP4 `ftyp` box and then zeros,
# so the completed upload is sniffed as a video and recorded as an item; its processing job
# then joins the parts into the original (RSS is sampled through that too) and ffprobe refuses
# the zeros (the item ends `failed`, as expected). Needs about 4 GiB free under $TMPDIR (the
# parts and the joined original); everything is removed at the end.
#
#   cargo build --release -p fanz && bash bench/tus.sh
#   BIN=path/to/fanz SIZE_MIB=2048 CHUNK_MIB=8 bash bench/tus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BIN:-${CARGO_TARGET_DIR:-target}/release/fanz}"
[ -x "$bin" ] || { echo "build first: cargo build --release -p fanz (or set BIN)" >&2; exit 1; }
size_mib="${SIZE_MIB:-2048}"
chunk_mib="${CHUNK_MIB:-8}"
port="${PORT:-18195}"
work=$(mktemp -d)
pid=
stop_server() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
  fi
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2' >"$work/file"
truncate -s "${size_mib}M" "$work/file"
echo "== the file: $size_mib MiB, sparse ($(du -k "$work/file" | cut -f1) KiB on disk)"

run() { # mode, extra env...
  local mode=$1
  shift
  rm -rf "$work/data"
  env "$@" FANZ_DATA_DIR="$work/data" FANZ_LISTEN="127.0.0.1:$port" FANZ_LOG=warn \
    FANZ_COMPLIANCE__SANDBOX_VERIFICATION=true "$bin" serve >"$work/server-$mode.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 500); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.02
  done
  PYTHONPATH=bench python3 - "$port" "$work" "$pid" "$mode" "$chunk_mib" <<'PY'
import http.client, os, subprocess, sys, threading, time
from benchapi import Api, mib
port, work, pid, mode, chunk_mib = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
api = Api(port)
base = api.base
path = f"{work}/file"
size = os.path.getsize(path)
def status(field):
    return mib(pid, field)

tok = api.creator("bench_tus")
time.sleep(1)
idle = status("VmRSS")

auth = {"authorization": f"Bearer {tok}", "tus-resumable": "1.0.0"}
c = http.client.HTTPConnection("127.0.0.1", port, blocksize=1 << 20)
c.request("POST", "/api/v1/media/uploads", headers={**auth, "upload-length": str(size)})
res = c.getresponse(); res.read()
assert res.status == 201, res.status
loc = res.getheader("location")

samples, sampling = [], [True]
def sampler():
    while sampling[0]:
        samples.append((time.monotonic(), status("VmRSS")))
        time.sleep(0.5)
threading.Thread(target=sampler, daemon=True).start()

class Slice:
    def __init__(self, f, n):
        self.f, self.left = f, n
    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        b = self.f.read(n)
        self.left -= len(b)
        return b

t0 = time.monotonic()
patches = 0
media_id = None
if mode == "chunks":
    step = chunk_mib << 20
    with open(path, "rb") as f:
        off = 0
        while off < size:
            n = min(step, size - off)
            c.request("PATCH", loc, body=Slice(f, n), headers={**auth, "upload-offset": str(off),
                      "content-type": "application/offset+octet-stream", "content-length": str(n)})
            res = c.getresponse(); body = res.read()
            assert res.status == 204, (res.status, body)
            off = int(res.getheader("upload-offset"))
            media_id = res.getheader("fanz-media-id") or media_id
            patches += 1
else:
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-D", "-", "-X", "PATCH", "-T", path,
                          "-H", f"authorization: Bearer {tok}", "-H", "tus-resumable: 1.0.0",
                          "-H", "upload-offset: 0", "-H", "content-type: application/offset+octet-stream",
                          "-H", "expect:", base + loc], check=True, capture_output=True, text=True).stdout
    assert " 204" in out.splitlines()[0], out
    for line in out.splitlines():
        if line.lower().startswith("fanz-media-id:"):
            media_id = line.split(":", 1)[1].strip()
    patches = 1
t1 = time.monotonic()
end_rss = status("VmRSS")
during = [r for t, r in samples if t <= t1]
secs = t1 - t0
print(f"{mode}: {size / 1048576:.0f} MiB in {patches} PATCH(es), {secs:.2f} s, {size / 1048576 / secs:.0f} MiB/s")
print(f"  server RSS: idle {idle:.1f} MiB; during the upload ({len(during)} samples, every 0.5 s) "
      f"min {min(during):.1f}, max {max(during):.1f} MiB; at the end {end_rss:.1f} MiB")
# The processing job joins the parts into the original; keep sampling until it is done.
assert media_id, "the last PATCH names the item"
item = api.wait_processed(media_id, tok, every=0.5)
t2 = time.monotonic()
sampling[0] = False
after = [r for t, r in samples if t > t1] or [status("VmRSS")]
print(f"  then the job joined the parts and ffprobe refused the zeros in {t2 - t1:.1f} s "
      f"(item {item['state']}, {item.get('error_code')}); RSS max {max(after):.1f} MiB meanwhile; "
      f"server peak (VmHWM) {status('VmHWM'):.1f} MiB")
PY
  stop_server
}

run chunks
run single FANZ_HTTP__REQUEST_TIMEOUT_SECS=600
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
