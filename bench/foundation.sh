#!/usr/bin/env bash
# Foundation benchmarks: cold start to ready, RSS after a burst, and read latency under a fixed
# request rate. Loopback only. Needs: a release build of fanz, python3, oha (cargo install oha)
# and wrk (apt-get install wrk).
#
#   cargo build --release -p fanz && bash bench/foundation.sh [sqlite|postgres]
#
# For postgres set FANZ_BENCH_POSTGRES_URL to a server whose user may create databases.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
bin="${CARGO_TARGET_DIR:-target}/release/fanz"
[ -x "$bin" ] || { echo "build first: cargo build --release -p fanz" >&2; exit 1; }
port=18181
url="http://127.0.0.1:$port"
data=$(mktemp -d)
export FANZ_DATA_DIR="$data" FANZ_LISTEN="127.0.0.1:$port" FANZ_LOG=warn
if [ "$backend" = postgres ]; then
  admin="${FANZ_BENCH_POSTGRES_URL:?set FANZ_BENCH_POSTGRES_URL}"
  db="fanz_bench_$$"
  psql "$admin" -qc "CREATE DATABASE $db" >/dev/null
  export FANZ_DATABASE_URL="${admin%/*}/$db"
fi
cleanup() {
  kill "${pid:-}" 2>/dev/null || true
  wait "${pid:-}" 2>/dev/null || true
  [ "$backend" = postgres ] && psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  rm -rf "$data"
}
trap cleanup EXIT

# Demo data and migrations first, so the timed start is a restart of a populated store.
"$bin" demo >/dev/null

# Start to ready: from exec to the first 200 from /readyz, polled every millisecond.
ready_ms() {
  python3 - "$bin" "$port" <<'PY'
import http.client, subprocess, sys, time
binary, port = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
p = subprocess.Popen([binary, "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/readyz")
        if c.getresponse().status == 200:
            break
    except OSError:
        pass
    time.sleep(0.001)
print(f"{(time.perf_counter() - t0) * 1000:.1f} {p.pid}")
PY
}
echo "== $backend: cold start to ready (5 runs)"
for i in 1 2 3 4 5; do
  read -r ms pid < <(ready_ms)
  echo "run $i: ${ms} ms"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

"$bin" serve >/dev/null 2>&1 &
pid=$!
until curl -fsS "$url/readyz" >/dev/null 2>&1; do sleep 0.05; done
rss() { awk '/VmRSS/ {printf "%.1f MiB\n", $2/1024}' "/proc/$pid/status"; }
echo "== RSS idle: $(rss)"

profile="$url/c/boyfanz/@neon_nate"
echo "== burst: wrk, 4 connections, 10 s, /api/v1/clusters then profile page"
taskset -c 1 wrk -t1 -c4 -d10s --latency "$url/api/v1/clusters" | grep -E "Requests/sec|50%|99%"
taskset -c 1 wrk -t1 -c4 -d10s --latency "$profile" | grep -E "Requests/sec|50%|99%"
echo "== RSS after burst: $(rss)"

command -v oha >/dev/null || { echo "oha not installed: skipping fixed-rate runs"; exit 0; }
echo "== fixed rate: 2,000 requests/s for 15 s (oha), /api/v1/clusters"
oha -z 15s -q 2000 -c 16 --no-tui --latency-correction "$url/api/v1/clusters" \
  | grep -E "Success rate|Requests/sec|50.00%|99.00%|99.90%"
echo "== fixed rate: 2,000 requests/s for 15 s (oha), creator profile page"
oha -z 15s -q 2000 -c 16 --no-tui --latency-correction "$profile" \
  | grep -E "Success rate|Requests/sec|50.00%|99.00%|99.90%"
echo "== RSS at end: $(rss)"
