#!/usr/bin/env bash
# Ledger throughput and latency on a fresh store: `fanz bench ledger` at batch sizes 1, 100 and
# 8,000, and 8,000 with every entry touching one hot account.
#
#   bash bench/ledger.sh sqlite
#   FANZ_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres bash bench/ledger.sh postgres
#
# Uses the release binary in $CARGO_TARGET_DIR (default target/); build it first with
# `cargo build --release -p fanz`.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
fanz="${CARGO_TARGET_DIR:-target}/release/fanz"
[ -x "$fanz" ] || { echo "build first: cargo build --release -p fanz" >&2; exit 1; }
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
export FANZ_DATA_DIR="$data" FANZ_LOG=warn
case "$backend" in
  sqlite) unset FANZ_DATABASE_URL ;;
  postgres)
    admin="${FANZ_BENCH_POSTGRES_URL:?set FANZ_BENCH_POSTGRES_URL to a server where you may create databases}"
    db="fanz_bench_$$"
    psql "$admin" -qc "CREATE DATABASE $db"
    trap 'psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null; rm -rf "$data"' EXIT
    export FANZ_DATABASE_URL="${admin%/*}/$db"
    ;;
  *) echo "usage: $0 sqlite|postgres" >&2; exit 2 ;;
esac
"$fanz" migrate >/dev/null
run() { echo; "$fanz" bench ledger "$@"; }
run --entries 10000 --batch 1
run --entries 200000 --batch 100
run --entries 400000 --batch 8000
run --entries 400000 --batch 8000 --hot
echo
"$fanz" ledger verify >/dev/null && echo "fanz ledger verify: ok"
