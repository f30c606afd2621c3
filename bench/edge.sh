#!/usr/bin/env bash
# `/api/v1/clusters` throughput of two builds of `fanz`, interleaved (A B A B …) so that a
# noisy machine hurts both alike: before and after a change at the HTTP edge.
#   bash bench/edge.sh BEFORE_BINARY AFTER_BINARY [ROUNDS]
# Needs wrk (apt-get install wrk). SQLite, demo data, loopback only. EDGE_PATH sets the path
# loaded; EDGE_AUTH=1 signs a user in first and sends its session token with every request.
set -euo pipefail
before=$1 after=$2 rounds=${3:-5}
port=18190
url="http://127.0.0.1:$port${EDGE_PATH:-/api/v1/clusters}"
run() { # binary label
  local data; data=$(mktemp -d)
  FANZ_DATA_DIR="$data" FANZ_LISTEN="127.0.0.1:$port" FANZ_LOG=warn "$1" serve --demo >"$data/log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  local auth=()
  if [ -n "${EDGE_AUTH:-}" ]; then
    local token
    curl -fsS -o /dev/null -H 'content-type: application/json' \
      -d '{"email":"edge@example.com","password":"correct horse battery","handle":"edge_bench"}' \
      "http://127.0.0.1:$port/api/v1/auth/signup"
    token=$(curl -fsS -H 'content-type: application/json' \
      -d '{"email":"edge@example.com","password":"correct horse battery"}' \
      "http://127.0.0.1:$port/api/v1/auth/login" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
    [ -n "$token" ] || { echo "sign-in failed" >&2; exit 1; }
    auth=(-H "authorization: Bearer $token")
  fi
  wrk -t1 -c4 -d2s "${auth[@]}" "$url" >/dev/null # warm-up
  local rps
  rps=$(taskset -c 1 wrk -t1 -c4 -d10s --latency "${auth[@]}" "$url" | awk '/Requests\/sec/ {print $2} /^ +99%/ {p99=$2} END {print p99}' | paste -sd' ')
  echo "$2 $rps"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}
for i in $(seq 1 "$rounds"); do
  run "$before" before
  run "$after" after
done | tee /dev/stderr | awk '{n[$1]++; s[$1]+=$2; v[$1]=v[$1] " " $2} END {for (k in s) printf "%s: mean %.0f req/s over %d runs (%s )\n", k, s[k]/n[k], n[k], v[k]}'
