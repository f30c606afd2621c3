#!/usr/bin/env bash
# Hostile login load: peak RSS, statuses and latency of N concurrent login attempts. Loopback
# only, bounded (one burst of N requests per scenario, each with a 120 s timeout). Needs python3.
#
#   cargo build -p fanz && bash bench/login.sh            # the debug build, N = 64 and 256
#   BIN=target/release/fanz bash bench/login.sh 64 256     # any build, any burst sizes
#
# Two scenarios per burst size, each on a fresh server (SQLite in a temporary data dir):
#   account  N wrong passwords for one account (default limits: 5 per account, 20 per address)
#   spray    N unknown e-mail addresses with the per-address limit lifted, standing for N
#            different addresses: every attempt reaches the password hasher, which must shed
#            what it cannot run or queue (503) instead of taking memory.
# Peak RSS is the server's VmHWM after the burst.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BIN:-${CARGO_TARGET_DIR:-target}/debug/fanz}"
[ -x "$bin" ] || { echo "build first: cargo build -p fanz (or set BIN)" >&2; exit 1; }
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64 256)
port=18191
data=$(mktemp -d)
cleanup() {
  kill "${pid:-}" 2>/dev/null || true
  wait "${pid:-}" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

start() {
  rm -rf "$data"/*
  FANZ_DATA_DIR="$data" FANZ_LISTEN="127.0.0.1:$port" FANZ_LOG=off "$@" "$bin" serve 2>/dev/null &
  pid=$!
  for _ in $(seq 1 500); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.02
  done
  echo "server did not start" >&2
  exit 1
}

stop() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

rss() { awk -v k="$1:" '$1 == k { printf "%.1f MiB", $2 / 1024 }' "/proc/$pid/status"; }

burst() {
  python3 - "$port" "$1" "$2" <<'PY'
import http.client, json, sys, threading, time
port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
statuses, times = {}, []
lock = threading.Lock()
gate = threading.Barrier(n)
def one(i):
    email = "victim@example.com" if mode == "account" else f"nobody{i}@example.com"
    body = json.dumps({"email": email, "password": "not the password"})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    gate.wait()
    t0 = time.perf_counter()
    try:
        c.request("POST", "/api/v1/auth/login", body, {"content-type": "application/json"})
        r = c.getresponse()
        r.read()
        s = r.status
        if s in (429, 503) and not r.getheader("retry-after"):
            s = f"{s} without Retry-After"
    except OSError as e:
        s = type(e).__name__
    dt = time.perf_counter() - t0
    with lock:
        statuses[s] = statuses.get(s, 0) + 1
        times.append(dt)
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
times.sort()
p = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000
print(f"statuses {dict(sorted(statuses.items(), key=str))}; p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, max {times[-1]*1000:.0f} ms")
PY
}

echo "binary: $bin ($(nproc) cores)"
for n in "${sizes[@]}"; do
  for mode in account spray; do
    if [ "$mode" = spray ]; then
      start env FANZ_LOGIN_MAX_FAILURES_PER_IP=1000000
    else
      start env
    fi
    curl -fs -o /dev/null -H 'content-type: application/json' \
      -d '{"email":"victim@example.com","handle":"victim","password":"correct horse battery"}' \
      "http://127.0.0.1:$port/api/v1/auth/signup"
    idle=$(rss VmRSS)
    result=$(burst "$n" "$mode")
    echo "N=$n $mode: RSS idle $idle, peak $(rss VmHWM); $result"
    stop
  done
done
