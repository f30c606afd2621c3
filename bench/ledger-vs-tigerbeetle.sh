#!/usr/bin/env bash
# Fanz's ledger beside TigerBeetle on this machine: the same number of two-sided transfers over
# the same number of accounts, at each batch size, in alternating rounds (TigerBeetle, SQLite,
# PostgreSQL, then again), every commit durable on every side; prints the medians and the
# ratios. Absolute figures on a virtual machine move with its disk from day to day; the ratio
# within one run is what holds.
#
#   bash bench/ledger-vs-tigerbeetle.sh
#   FANZ_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres bash bench/ledger-vs-tigerbeetle.sh
#
# TigerBeetle is built from source with Zig from PyPI's `ziglang` package at the version the
# source's own build names (zig/download.sh, else build.zig.zon's minimum_zig_version),
# installed into a private virtualenv. The source is TIGERBEETLE_SRC (a git clone of
# github.com/tigerbeetle/tigerbeetle) when given; otherwise the TigerBeetle 0.16.78 release tree
# that crates.io's `tigerbeetle-unofficial-sys` 0.14.28 package carries (it builds TigerBeetle's
# client from it), downloaded from crates.io, checked against its SHA-256 and unpacked under
# ~/.cache; nothing of it is vendored here. TIGERBEETLE_BIN names an already built binary instead. TigerBeetle is driven by its own `tigerbeetle
# benchmark` (one local replica on a temporary data file, its load generator as the client).
#
# Sizes (environment): ENTRIES (1000000) transfers per run at batch 8,000 and 100,
# ENTRIES_SINGLE (20000) at batch 1, ACCOUNTS (10000), BATCHES ("8000 100 1"), ROUNDS (3),
# BACKENDS ("sqlite", plus "postgres" when FANZ_BENCH_POSTGRES_URL is set).
#
# Fanz is the release binary in $CARGO_TARGET_DIR (default target/): build it first with
# `cargo build --release -p fanz`.
set -euo pipefail
cd "$(dirname "$0")/.."

ENTRIES="${ENTRIES:-1000000}"
ENTRIES_SINGLE="${ENTRIES_SINGLE:-20000}"
ACCOUNTS="${ACCOUNTS:-10000}"
BATCHES="${BATCHES:-8000 100 1}"
ROUNDS="${ROUNDS:-3}"
if [ -z "${BACKENDS:-}" ]; then
  BACKENDS="sqlite"
  [ -n "${FANZ_BENCH_POSTGRES_URL:-}" ] && BACKENDS="sqlite postgres"
fi

fanz="${CARGO_TARGET_DIR:-target}/release/fanz"
missing=()
[ -x "$fanz" ] || missing+=("the Fanz release binary $fanz (build it: cargo build --release -p fanz)")
command -v python3 >/dev/null || missing+=("python3 (for Zig from PyPI and for reading the reports)")
# TigerBeetle's release tree as crates.io carries it (see above): release, its commit, the package.
TB_RELEASE=0.16.78
TB_COMMIT=c3d9b09dc88e94dde9ac915c6e94a4c650332080
TB_CRATE=tigerbeetle-unofficial-sys-0.14.28+0.16.78
TB_CRATE_SHA256=223ae7953f40277e72cc62b47bacd61fe1dbd4043d89de135a02074746221ceb
tb_git_commit=""
if [ "${#missing[@]}" -eq 0 ] && [ -z "${TIGERBEETLE_BIN:-}" ] && [ -z "${TIGERBEETLE_SRC:-}" ]; then
  tb_cache="$HOME/.cache/fanz-tigerbeetle-$TB_RELEASE"
  if [ ! -f "$tb_cache/tigerbeetle/build.zig" ]; then
    command -v curl >/dev/null || { echo "ledger-vs-tigerbeetle: curl is needed to fetch TigerBeetle's source from crates.io" >&2; exit 2; }
    mkdir -p "$tb_cache"
    echo "fetching TigerBeetle $TB_RELEASE's source from crates.io ($TB_CRATE)" >&2
    curl -sSfL -o "$tb_cache/src.crate" "https://static.crates.io/crates/tigerbeetle-unofficial-sys/${TB_CRATE/+/%2B}.crate"
    echo "$TB_CRATE_SHA256  $tb_cache/src.crate" | sha256sum -c --quiet - ||
      { echo "ledger-vs-tigerbeetle: the downloaded package's SHA-256 differs" >&2; exit 1; }
    tar xzf "$tb_cache/src.crate" -C "$tb_cache" --strip-components=1 "$TB_CRATE/tigerbeetle"
    rm -f "$tb_cache/src.crate"
  fi
  TIGERBEETLE_SRC="$tb_cache/tigerbeetle"
  # The release tree is not a git checkout: its build asks git for the commit unless told.
  tb_git_commit="-Dgit-commit=$TB_COMMIT"
fi
if [ -z "${TIGERBEETLE_BIN:-}" ]; then
  if [ ! -f "$TIGERBEETLE_SRC/build.zig" ]; then
    missing+=("a TigerBeetle checkout at TIGERBEETLE_SRC=$TIGERBEETLE_SRC (no build.zig there)")
  fi
elif [ ! -x "$TIGERBEETLE_BIN" ]; then
  missing+=("an executable at TIGERBEETLE_BIN=$TIGERBEETLE_BIN")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "ledger-vs-tigerbeetle: cannot run; missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 2
fi

work=$(mktemp -d)
# One database for every PostgreSQL run, made afresh each time (fanz_run runs in a subshell).
pg_db="fanz_vs_tb_$$"
cleanup() {
  [ -n "${FANZ_BENCH_POSTGRES_URL:-}" ] && psql "$FANZ_BENCH_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# --- TigerBeetle: build from source with the Zig its build names ---------------------------
tb="${TIGERBEETLE_BIN:-}"
if [ -z "$tb" ]; then
  zig_version=$(sed -n 's/^ZIG_RELEASE\(_DEFAULT\)\?="\([0-9.]*\)".*/\2/p' "$TIGERBEETLE_SRC/zig/download.sh" 2>/dev/null | head -1)
  if [ -z "$zig_version" ] && [ -f "$TIGERBEETLE_SRC/build.zig.zon" ]; then
    zig_version=$(sed -n 's/.*minimum_zig_version *= *"\([0-9.]*\)".*/\1/p' "$TIGERBEETLE_SRC/build.zig.zon" | head -1)
  fi
  if [ -z "$zig_version" ]; then
    echo "ledger-vs-tigerbeetle: cannot tell which Zig $TIGERBEETLE_SRC builds with (no ZIG_RELEASE in zig/download.sh, no minimum_zig_version in build.zig.zon)" >&2
    exit 2
  fi
  venv="${ZIG_VENV:-$HOME/.cache/fanz-ziglang-$zig_version}"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m ziglang version >/dev/null 2>&1; then
    echo "installing Zig $zig_version from PyPI (ziglang) into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "ziglang==$zig_version"
  fi
  echo "building TigerBeetle in $TIGERBEETLE_SRC with Zig $("$venv/bin/python" -m ziglang version)" >&2
  # Newer checkouts take -Drelease and install ./tigerbeetle; older ones -Drelease-safe.
  (cd "$TIGERBEETLE_SRC" && { "$venv/bin/python" -m ziglang build -Drelease $tb_git_commit >&2 ||
    "$venv/bin/python" -m ziglang build install -Drelease-safe >&2; })
  for candidate in "$TIGERBEETLE_SRC/tigerbeetle" "$TIGERBEETLE_SRC/zig-out/bin/tigerbeetle"; do
    [ -x "$candidate" ] && { tb="$candidate"; break; }
  done
  [ -n "$tb" ] || { echo "ledger-vs-tigerbeetle: the build made no tigerbeetle binary" >&2; exit 1; }
fi
echo "TigerBeetle: $("$tb" version 2>/dev/null | head -1)" >&2

tb_run() { # batch count -> transfers/s
  local out
  rm -f "$work/tb.data"
  # The batch option is --transfer-batch-count since 0.16, --transfer-batch-size before.
  local flag
  for flag in --transfer-batch-count --transfer-batch-size; do
    out=$("$tb" benchmark ${TB_FLAGS:-} --file="$work/tb.data" --account-count="$ACCOUNTS" \
      --transfer-count="$2" "$flag=$1" --query-count=0 2>&1) && break
    rm -f "$work/tb.data"
    grep -q "unexpected argument: '$flag" <<<"$out" || { echo "$out" >&2; return 1; }
  done
  rm -f "$work/tb.data"
  sed -n 's/^load accepted = \([0-9]*\) tx\/s.*/\1/p' <<<"$out" | tail -1
}

# --- Fanz: a fresh store per run ---------------------------------------------------------
fanz_run() { # backend batch count -> entries/s
  local data="$work/fanz-$1"
  rm -rf "$data"
  mkdir -p "$data"
  if [ "$1" = postgres ]; then
    psql "$FANZ_BENCH_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $pg_db" >/dev/null
    psql "$FANZ_BENCH_POSTGRES_URL" -qc "CREATE DATABASE $pg_db" >/dev/null
    export FANZ_DATABASE_URL="${FANZ_BENCH_POSTGRES_URL%/*}/$pg_db"
  else
    unset FANZ_DATABASE_URL
  fi
  FANZ_DATA_DIR="$data" FANZ_LOG=warn "$fanz" migrate >/dev/null
  FANZ_DATA_DIR="$data" FANZ_LOG=warn "$fanz" bench ledger --json --entries "$3" --batch "$2" \
    --accounts "$ACCOUNTS" --slice "$3" 2>/dev/null |
    python3 -c 'import json,sys; print(round(json.load(sys.stdin)["entries_per_sec"]))'
}

results="$work/results"
: >"$results"
for round in $(seq 1 "$ROUNDS"); do
  for batch in $BATCHES; do
    n="$ENTRIES"
    [ "$batch" -le 1 ] && n="$ENTRIES_SINGLE"
    echo "round $round, batch $batch, $n transfers, $ACCOUNTS accounts" >&2
    echo "tigerbeetle $batch $(tb_run "$batch" "$n")" >>"$results"
    for backend in $BACKENDS; do
      echo "$backend $batch $(fanz_run "$backend" "$batch" "$n")" >>"$results"
    done
  done
done

python3 - "$results" "$BACKENDS" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 3]
backends = sys.argv[2].split()
runs = {}
for system, batch, rate in rows:
    runs.setdefault((system, int(batch)), []).append(float(rate))
batches = sorted({b for _, b in runs}, reverse=True)
head = "| batch | TigerBeetle transfers/s | " + " | ".join(f"{b} entries/s (× TigerBeetle)" for b in backends) + " |"
print(head)
print("|" + " --- |" * (2 + len(backends)))
for b in batches:
    tb = statistics.median(runs[("tigerbeetle", b)])
    cells = []
    for be in backends:
        m = statistics.median(runs[(be, b)])
        cells.append(f"{m:,.0f} ({m / tb:.3f}×)")
    print(f"| {b:,} | {tb:,.0f} | " + " | ".join(cells) + " |")
print(f"\nmedians of {len(runs[('tigerbeetle', batches[0])])} alternating rounds; every round:")
for b in batches:
    for system in ["tigerbeetle"] + backends:
        print(f"  batch {b:,} {system}: " + ", ".join(f"{r:,.0f}" for r in runs[(system, b)]))
EOF
