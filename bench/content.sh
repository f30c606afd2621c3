#!/usr/bin/env bash
# Content at scale (issue 11): `fanz demo --scale`, `fanz search reindex`, `may_view` per feed
# page, then the home feed, cluster trending and search at a fixed rate beside
# `/api/v1/clusters` (the reference), on a fresh store.
#
#   cargo build --release -p fanz
#   BIN=$CARGO_TARGET_DIR/release/fanz bash bench/content.sh sqlite
#   BIN=... FANZ_BENCH_POSTGRES_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres \
#     bash bench/content.sh postgres
#
# Sizes default to the issue's (10k creators, 1M posts, 100k fans, 5M follows); smaller with
# CREATORS, POSTS, FANS and FOLLOWS.
# RATE (500), CONNECTIONS (64) and DURATION (20 s per target) set the load.
set -euo pipefail
cd "$(dirname "$0")/.."
engine="${1:-sqlite}"
bin="${BIN:-${CARGO_TARGET_DIR:-target}/release/fanz}"
[ -x "$bin" ] || { echo "build first: cargo build --release -p fanz (or set BIN)" >&2; exit 1; }
creators="${CREATORS:-10000}"
posts="${POSTS:-1000000}"
fans="${FANS:-100000}"
follows="${FOLLOWS:-5000000}"
rate="${RATE:-500}"
connections="${CONNECTIONS:-64}"
duration="${DURATION:-20}"
password="scale-bench-password"
port=18211
data=$(mktemp -d)
db_name="fanz_bench_content_$$"
case "$engine" in
  sqlite) export FANZ_DATABASE_URL="sqlite://$data/fanz.db" ;;
  postgres)
    base="${FANZ_BENCH_POSTGRES_URL:?set FANZ_BENCH_POSTGRES_URL}"
    psql "$base" -qc "CREATE DATABASE $db_name" >/dev/null
    export FANZ_DATABASE_URL="${base%/*}/$db_name"
    ;;
  *) echo "usage: $0 sqlite|postgres" >&2; exit 2 ;;
esac
export FANZ_DATA_DIR="$data" FANZ_LOG=warn
cleanup() {
  kill "${pid:-}" 2>/dev/null || true
  wait "${pid:-}" 2>/dev/null || true
  [ "$engine" = postgres ] && psql "$base" -qc "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

echo "== $engine: $("$bin" --version), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== fanz demo --scale"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" "$bin" demo --scale --creators "$creators" \
  --posts "$posts" --fans "$fans" --follows "$follows" --password "$password" 2>&1 |
  grep -v '^\s*$' | tail -n 6
[ "$engine" = sqlite ] && du -h "$data/fanz.db" | sed 's/^/store size: /'
echo "== fanz search reindex"
/usr/bin/time -f "wall %e s, peak RSS %M KiB" "$bin" search reindex 2>&1 | tail -n 2
du -sh "$data/search" | sed 's/^/index size: /'
echo "== fanz bench may-view"
"$bin" bench may-view --pages 1000 --fans "$fans"
echo "== fanz bench content (server: $bin serve)"
FANZ_LISTEN="127.0.0.1:$port" FANZ_LOG=off "$bin" serve >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 500); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.05
done
"$bin" bench content --url "http://127.0.0.1:$port" --password "$password" --fans "$fans" \
  --rate "$rate" --connections "$connections" --duration "$duration" \
  --targets "${TARGETS:-clusters,home,trending,search}"
echo "server RSS after: $(awk '$1 == "VmRSS:" { printf "%.1f MiB", $2 / 1024 }' "/proc/$pid/status")"
