#!/usr/bin/env bash
# The gateway side by side with nginx, both proxying the same loopback upstream (an nginx
# answering a 1 KiB body). Keep-alive on both legs; each proxy gets one worker (nginx
# worker_processes 1; fanz TOKIO_WORKER_THREADS=1) pinned to core 1 with taskset, while the
# upstream and the load generators share core 0. Needs: a release build of fanz, nginx-light,
# wrk and hey (apt-get install -y nginx-light wrk hey), curl, python3.
#
#   cargo build --release -p fanz && bash bench/gateway.sh
#
# With CALLGRIND=1 it also counts the instructions each proxied request costs fanz and the bare
# proxy (valgrind's callgrind; counts, not seconds, so they repeat on a busy machine too).
#
# Measures: requests/s through each proxy (wrk, 1 thread, 16 connections, 10 s), in ROUNDS
# (default 3) rounds that take turns, so that a noisy neighbour hits every proxy alike, with the
# median of each; latency at a fixed rate of half nginx's maximum (hey, 8 connections, 10 s)
# directly, through nginx and through fanz, so the difference is the latency each proxy adds;
# RSS of fanz idle with the full catalogue. Beside them, the floor of the stack: the
# `bare_proxy` example (tokio and hyper forwarding, nothing else), when it has been built with
#
#   cargo build --release -p fanz-gateway --example bare_proxy
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${FANZ_BIN:-${CARGO_TARGET_DIR:-target}/release/fanz}" # FANZ_BIN: another build to compare
[ -x "$bin" ] || { echo "build first: cargo build --release -p fanz" >&2; exit 1; }
DUR="${DUR:-10s}"
ROUNDS="${ROUNDS:-3}"
bare_bin="${CARGO_TARGET_DIR:-target}/release/examples/bare_proxy"
tmp=$(mktemp -d)
chmod 755 "$tmp"
up=18301 ngx=18302 fz=18303 fzfull=18304 bare=18305
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

body=$(python3 -c 'print("x" * 1024, end="")')
mkdir -p "$tmp/up" "$tmp/ngx"
cat > "$tmp/up/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/up/nginx.pid;
error_log $tmp/up/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$up;
    location /healthz { return 200 "ok"; }
    location / { default_type text/plain; return 200 "$body"; }
  }
}
CONF
cat > "$tmp/ngx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/ngx/nginx.pid;
error_log $tmp/ngx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$up; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$ngx;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
taskset -c 0 nginx -p "$tmp/up" -c "$tmp/up/nginx.conf" -e "$tmp/up/error.log" & pids+=($!)
taskset -c 1 nginx -p "$tmp/ngx" -c "$tmp/ngx/nginx.conf" -e "$tmp/ngx/error.log" & pids+=($!)

# The full catalogue plus one upstream service for the benchmark.
cp services.toml "$tmp/services.toml"
cat >> "$tmp/services.toml" <<CONF

[[service]]
id = "bench"
name = "Bench"
category = "infrastructure"
port = $up
provider = "upstream"
health_path = "/healthz"
[[service.instance]]
url = "http://127.0.0.1:$up"
CONF

# Two fanz nodes: plain pass-through (no credentials sent, limits off) and the full edge
# (an API key on every request, per-client rate limit on, request ids and metrics as always).
start_fanz() { # port dir rps [wrapper command...]
  local port=$1 dir=$tmp/$2 rps=$3
  shift 3
  mkdir -p "$dir"
  cat > "$dir/fanz.toml" <<CONF
listen = "127.0.0.1:$port"
data_dir = "$dir"
log = "warn"
[gateway]
catalogue = "$tmp/services.toml"
[gateway.rate_limit]
per_client_rps = $rps
per_client_burst = $rps
CONF
  TOKIO_WORKER_THREADS=1 taskset -c 1 "$@" "$bin" --config "$dir/fanz.toml" serve >"$dir/log" 2>&1 &
  pids+=($!)
  until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.05; done
}
start_fanz $fz plain 0
fz_pid=${pids[-1]}
start_fanz $fzfull full 1000000000
until curl -fsS "http://127.0.0.1:$ngx/x" >/dev/null 2>&1; do sleep 0.05; done

# A user and an API key for the full-edge runs.
curl -fsS -H 'content-type: application/json' "http://127.0.0.1:$fzfull/api/v1/auth/signup" \
  -d '{"email":"bench@example.com","handle":"bench","password":"correct horse battery"}' >/dev/null
token=$(curl -fsS -H 'content-type: application/json' "http://127.0.0.1:$fzfull/api/v1/auth/login" \
  -d '{"email":"bench@example.com","password":"correct horse battery"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
key=$(curl -fsS -H 'content-type: application/json' -H "authorization: Bearer $token" \
  "http://127.0.0.1:$fzfull/api/v1/auth/api-keys" -d '{"name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

direct="http://127.0.0.1:$up/data"
via_nginx="http://127.0.0.1:$ngx/data"
via_fanz="http://127.0.0.1:$fz/api/gateway/proxy/bench/data"
via_full="http://127.0.0.1:$fzfull/api/gateway/proxy/bench/data"
[ "$(curl -fsS "$via_fanz" | wc -c)" = 1024 ] || { echo "fanz does not proxy the body" >&2; exit 1; }
[ "$(curl -fsS -H "x-api-key: $key" "$via_full" | wc -c)" = 1024 ] || { echo "full edge fails" >&2; exit 1; }

echo "== RSS of fanz idle, full catalogue ($(grep -c '^\[\[service\]\]' "$tmp/services.toml") services): $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$fz_pid/status)"

rps() { taskset -c 0 wrk -t1 -c16 -d"$DUR" "$@" | awk '/Requests\/sec/ {print $2}'; }
via_bare=""
if [ -x "$bare_bin" ]; then
  TOKIO_WORKER_THREADS=1 taskset -c 1 "$bare_bin" "127.0.0.1:$bare" "127.0.0.1:$up" & pids+=($!)
  until curl -fsS "http://127.0.0.1:$bare/x" >/dev/null 2>&1; do sleep 0.05; done
  via_bare="http://127.0.0.1:$bare/data"
fi
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
echo "== max requests/s (wrk -t1 -c16 -d$DUR), $ROUNDS rounds taking turns"
rps "$via_nginx" >/dev/null; rps "$via_fanz" >/dev/null # warm-up
r_direct=$(rps "$direct")
a_nginx=(); a_bare=(); a_fanz=(); a_full=()
for round in $(seq "$ROUNDS"); do
  n=$(rps "$via_nginx"); a_nginx+=("$n")
  b=0; [ -n "$via_bare" ] && b=$(rps "$via_bare"); a_bare+=("$b")
  f=$(rps "$via_fanz"); a_fanz+=("$f")
  g=$(rps -H "x-api-key: $key" "$via_full"); a_full+=("$g")
  echo "round $round: nginx $n, bare hyper $b, fanz plain $f ($(ratio "$f" "$n")x), full edge $g ($(ratio "$g" "$n")x)"
done
r_nginx=$(median "${a_nginx[@]}"); r_bare=$(median "${a_bare[@]}")
r_fanz=$(median "${a_fanz[@]}"); r_full=$(median "${a_full[@]}")
echo "direct upstream: $r_direct"
echo "nginx proxy:     $r_nginx (median)"
[ -n "$via_bare" ] && echo "bare hyper:      $r_bare ($(ratio "$r_bare" "$r_nginx")x nginx)"
echo "fanz plain:      $r_fanz ($(ratio "$r_fanz" "$r_nginx")x nginx)"
echo "fanz full edge:  $r_full ($(ratio "$r_full" "$r_nginx")x nginx)"

half=$(python3 -c "print(int($r_nginx/2))")
per=$(( half / 8 ))
lat() { # label url [header]
  local out
  if [ $# -eq 3 ]; then
    out=$(taskset -c 0 hey -z "$DUR" -c 8 -q "$per" -H "$3" "$2")
  else
    out=$(taskset -c 0 hey -z "$DUR" -c 8 -q "$per" "$2")
  fi
  local p50 p99 ok
  p50=$(echo "$out" | awk '/ 50% in/ {printf "%.3f", $3*1000}')
  p99=$(echo "$out" | awk '/ 99% in/ {printf "%.3f", $3*1000}')
  ok=$(echo "$out" | awk '/\[200\]/ {print $2}')
  echo "$1: p50 ${p50} ms, p99 ${p99} ms (${ok} x 200)"
}
echo "== latency at $((per * 8)) requests/s, half of nginx's maximum (hey -c 8 -q $per -z $DUR)"
lat "direct        " "$direct"
lat "via nginx     " "$via_nginx"
lat "via fanz plain" "$via_fanz"
lat "via fanz full " "$via_full" "x-api-key: $key"
echo "== RSS of fanz after the runs: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$fz_pid/status)"

if [ "${CALLGRIND:-0}" = 1 ]; then
  n=20000
  cg=(valgrind --tool=callgrind --collect-atstart=yes)
  count() { # label url pid callgrind-out
    for _ in 1 2 3; do curl -fsS "$2" >/dev/null; done
    callgrind_control -z "$3" >/dev/null 2>&1
    taskset -c 0 hey -n "$n" -c 4 "$2" >/dev/null
    callgrind_control -d "$3" >/dev/null 2>&1
    local total
    total=$(callgrind_annotate "$4.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo "$1: $((total / n)) instructions per request"
  }
  echo "== instructions per proxied request (callgrind, $n requests, hey -c 4)"
  start_fanz 18306 cg 0 "${cg[@]}" --callgrind-out-file="$tmp/cg/out"
  count "fanz plain" "http://127.0.0.1:18306/api/gateway/proxy/bench/data" "${pids[-1]}" "$tmp/cg/out"
  if [ -x "$bare_bin" ]; then
    TOKIO_WORKER_THREADS=1 taskset -c 1 "${cg[@]}" --callgrind-out-file="$tmp/bare.out" \
      "$bare_bin" 127.0.0.1:18307 "127.0.0.1:$up" >/dev/null 2>&1 & pids+=($!)
    until curl -fsS "http://127.0.0.1:18307/x" >/dev/null 2>&1; do sleep 0.1; done
    count "bare hyper" "http://127.0.0.1:18307/data" "${pids[-1]}" "$tmp/bare.out"
  fi
fi
