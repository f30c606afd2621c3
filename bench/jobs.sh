#!/usr/bin/env bash
# Background jobs and events: fanz's job runner against graphile-worker on the same PostgreSQL,
# plus fanz's event delivery (in-process on SQLite and PostgreSQL, and through NATS JetStream).
# Rounds alternate fanz, graphile-worker, fanz, graphile-worker … so a noisy machine hurts both.
#
#   FANZ_BIN=… bash bench/jobs.sh [ROUNDS]      # default 2 rounds
#
# FANZ_BIN defaults to $CARGO_TARGET_DIR/debug/fanz. Needs psql, node + npm (graphile-worker is
# installed from the npm registry into bench/graphile/node_modules), a PostgreSQL whose user may
# create databases (FANZ_BENCH_POSTGRES_URL, default postgres://postgres:postgres@127.0.0.1:5432)
# and, for the NATS run, nats-server on the PATH: each NATS run starts a throwaway JetStream
# server on 127.0.0.1:14222 with an empty store. A shared server will not do: the bench's
# subscriber is a new durable consumer each run (its name carries the node name) that delivers
# the FANZ_EVENTS stream from the start, so it would count earlier runs' events as its own.
# FANZ_BENCH_NATS_URL=nats://… uses a given server instead (only sound if its stream is empty);
# FANZ_BENCH_NATS_URL="" skips the NATS run. Every run gets a fresh database (fanz_bench_*).
set -euo pipefail
cd "$(dirname "$0")"
rounds=${1:-2}
bin=${FANZ_BIN:-${CARGO_TARGET_DIR:-../target}/debug/fanz}
[ -x "$bin" ] || { echo "no fanz binary at $bin (set FANZ_BIN)" >&2; exit 1; }
admin=${FANZ_BENCH_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432}
nats=${FANZ_BENCH_NATS_URL-private}
export FANZ_LOG=warn
(cd graphile && [ -d node_modules/graphile-worker ] || npm ci --no-audit --no-fund >/dev/null)

fresh_pg() { # prints a URL of a new empty database
  local db="fanz_bench_$$_$(date +%s%N)"
  psql "$admin/postgres" -qc "CREATE DATABASE $db" >/dev/null
  echo "$admin/$db"
}
drop_pg() { psql "$admin/postgres" -qc "DROP DATABASE IF EXISTS ${1##*/} WITH (FORCE)" >/dev/null; }
fresh_sqlite() { local d; d=$(mktemp -d /tmp/fanz-bench-XXXXXX); echo "sqlite://$d/fanz.db"; }
drop_sqlite() { rm -rf "$(dirname "${1#sqlite://}")"; }

fanz_jobs() { # backend, then args for `fanz bench jobs`
  local backend=$1 url; shift
  url=$(fresh_$backend)
  FANZ_DATABASE_URL=$url "$bin" bench jobs "$@"
  drop_$backend "$url"
}

fanz_two_nodes() { # two processes on one PostgreSQL database
  local url pid
  url=$(fresh_pg)
  FANZ_DATABASE_URL=$url "$bin" bench jobs --work-only --concurrency 8 | sed 's/^/[node 2] /' &
  pid=$!
  sleep 2 # let node 2 migrate and start waiting
  FANZ_DATABASE_URL=$url "$bin" bench jobs --jobs 20000 --batch 500 --concurrency 8 \
    --latency-samples 500 --latency-rate 200 | sed 's/^/[node 1] /'
  wait "$pid"
  drop_pg "$url"
}

fanz_events() { # backend [events url]
  local url
  url=$(fresh_$1)
  if [ -n "${2:-}" ]; then
    FANZ_DATABASE_URL=$url FANZ_EVENTS_URL=$2 "$bin" bench events --events 5000 --batch 100
  else
    FANZ_DATABASE_URL=$url "$bin" bench events --events 5000 --batch 100
  fi
  drop_$1 "$url"
}

graphile() {
  local url
  url=$(fresh_pg)
  node graphile/run.js "$url" 20000 5000 500 200
  drop_pg "$url"
}

for r in $(seq 1 "$rounds"); do
  echo "=== round $r: fanz ($(uptime | sed 's/.*load/load/'))"
  fanz_jobs pg --jobs 20000 --batch 500 --concurrency 8 --latency-samples 500 --latency-rate 200
  fanz_jobs pg --jobs 5000 --batch 1 --enqueue-only
  fanz_jobs sqlite --jobs 20000 --batch 500 --concurrency 8 --latency-samples 500 --latency-rate 200
  fanz_jobs sqlite --jobs 5000 --batch 1 --enqueue-only
  echo "--- two nodes on PostgreSQL"
  fanz_two_nodes
  echo "--- events"
  fanz_events sqlite
  fanz_events pg
  if [ "$nats" = private ]; then
    store=$(mktemp -d /tmp/fanz-bench-nats-XXXXXX)
    nats-server -a 127.0.0.1 -p 14222 -js -sd "$store" >"$store.log" 2>&1 &
    nats_pid=$!
    sleep 1
    fanz_events pg nats://127.0.0.1:14222
    kill "$nats_pid"; wait "$nats_pid" 2>/dev/null || true
    rm -rf "$store" "$store.log"
  elif [ -n "$nats" ]; then
    fanz_events pg "$nats"
  fi
  echo "=== round $r: graphile-worker ($(uptime | sed 's/.*load/load/'))"
  graphile
done
