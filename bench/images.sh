#!/usr/bin/env bash
# Image renditions of a 24-megapixel JPEG: fanz against libvips doing the same work.
#
# The photo (6000×4000) is made by the script: ffmpeg's mandelbrot with film grain (so the
# JPEG has real detail to decode: about 8 MiB), saved by vips at quality 92 with 4:2:0 chroma,
# as a phone or camera writes it. Then, RUNS times (5), one after the other:
#
# - libvips: `vipsthumbnail` once per output at the configured widths (320, 640, 1280), each
#   as JPEG q82 and lossless WebP (fanz's WebP encoder is lossless only, so the same), metadata
#   stripped; then the teaser as fanz makes it (16 px wide, blurred 1.5, enlarged to 320,
#   blurred 4, JPEG q82). Timed by `/usr/bin/time -f '%e %U %S %M'` over the whole shell
#   script: wall, CPU, and the peak RSS of the largest of its processes. vipsthumbnail uses
#   shrink-on-load: libjpeg decodes the source at 1/2, 1/4 or 1/8 scale, so no run decodes the
#   full 24 megapixels.
# - fanz: a fresh server (SQLite, the media store in a directory, default [media] settings),
#   a creator uploads the photo by `POST /api/v1/media`; timed from the upload's answer to
#   `ready` (polled every 50 ms), and the job's own time (`jobs_duration_seconds` of the
#   default queue, from /metrics); CPU from /proc/PID/stat around the job; peak RSS from
#   /proc/PID/status VmHWM. fanz decodes the full image (the PDQ hash needs it), hashes it,
#   resizes 6000 → 1280 → 640 → 320 (Triangle filter), encodes JPEG q82 and lossless WebP,
#   the teaser and a blurhash, and stores the 7 files.
#
#   apt-get install -y ffmpeg libvips-tools       # once
#   cargo build --release -p fanz && bash bench/images.sh
#   BIN=path/to/fanz RUNS=5 bash bench/images.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BIN:-${CARGO_TARGET_DIR:-target}/release/fanz}"
[ -x "$bin" ] || { echo "build first: cargo build --release -p fanz (or set BIN)" >&2; exit 1; }
command -v vipsthumbnail >/dev/null || { echo "needs libvips-tools (vipsthumbnail)" >&2; exit 1; }
runs="${RUNS:-5}"
port="${PORT:-18194}"
work=$(mktemp -d)
cleanup() {
  kill "${pid:-}" 2>/dev/null || true
  wait "${pid:-}" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(vips --version)"
echo "== the photo: 6000x4000 mandelbrot with grain, JPEG q92 4:2:0"
ffmpeg -nostdin -v error -f lavfi \
  -i "mandelbrot=size=6000x4000:start_scale=1.5:end_pts=1,noise=alls=28:allf=u" \
  -frames:v 1 -y "$work/src.ppm"
vips copy "$work/src.ppm" "$work/photo.jpg[Q=92,subsample-mode=on,strip]"
rm "$work/src.ppm"
ls -l "$work/photo.jpg" | awk '{printf "%.1f MiB\n", $5 / 1048576}'

# libvips, the same outputs as fanz, with libwebp's lossless effort 4 (its default) and 0 (the
# fastest, nearer the image crate's simple lossless encoder). The teaser's enlargement is computed from the tiny
# image's height so it ends 320×213 as fanz's does.
cat >"$work/vips.sh" <<'EOF'
set -e
src=$1; out=$2; effort=$3
for w in 1280 640 320; do
  vipsthumbnail "$src" --size "$w" -o "$out/w$w.jpg[Q=82,strip]"
  vipsthumbnail "$src" --size "$w" -o "$out/w$w.webp[lossless,effort=$effort,strip]"
done
vipsthumbnail "$src" --size 16 -o "$out/tiny.v"
vips gaussblur "$out/tiny.v" "$out/tiny-b.v" 1.5
th=$(vipsheader -f height "$out/tiny.v")
vips resize "$out/tiny-b.v" "$out/up.v" 20 --vscale "$(python3 -c "print(213 / $th)")"
vips gaussblur "$out/up.v" "$out/up-b.v" 4
vips jpegsave "$out/up-b.v" "$out/teaser.jpg" --Q 82 --strip
rm "$out"/*.v
EOF

# The same work in one process through pyvips (the vips CLI pays for 12 process starts, about
# 0.5 CPU-s here): one thumbnail per width (shrink-on-load), kept in memory and saved twice.
cat >"$work/vips.py" <<'EOF'
import resource, sys, time
import pyvips
src, out, effort = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0, c0 = time.monotonic(), time.process_time()
for w in (1280, 640, 320):
    img = pyvips.Image.thumbnail(src, w).copy_memory()
    img.jpegsave(f"{out}/w{w}.jpg", Q=82, strip=True)
    img.webpsave(f"{out}/w{w}.webp", lossless=True, effort=effort, strip=True)
tiny = pyvips.Image.thumbnail(src, 16).gaussblur(1.5)
tiny.resize(20, vscale=213 / tiny.height).gaussblur(4).jpegsave(f"{out}/teaser.jpg", Q=82, strip=True)
print(time.monotonic() - t0, time.process_time() - c0, base)
EOF
vips_python="${VIPS_PYTHON:-python3}"
if ! "$vips_python" -c "import pyvips" 2>/dev/null; then
  echo "pyvips not found: the in-process libvips runs are left out (python3 -m venv v &&"
  echo "v/bin/pip install pyvips, then VIPS_PYTHON=v/bin/python)"
  vips_python=
fi

FANZ_DATA_DIR="$work/data" FANZ_LISTEN="127.0.0.1:$port" FANZ_LOG="warn" \
  FANZ_COMPLIANCE__SANDBOX_VERIFICATION=true "$bin" serve >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 500); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.02
done

PYTHONPATH=bench python3 - "$port" "$work" "$pid" "$runs" "$vips_python" <<'PY'
import json, os, re, statistics, subprocess, sys, time, urllib.request
from benchapi import Api, mib
port, work, pid, runs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
vips_python = sys.argv[5]
api = Api(port)
base, call = api.base, api.call
tick = os.sysconf("SC_CLK_TCK")
def status(field):
    return mib(pid, field)
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
def job_seconds():
    text = urllib.request.urlopen(base + "/metrics").read().decode()
    s = re.search(r'^jobs_duration_seconds_sum\{queue="default"\} (\S+)', text, re.M)
    c = re.search(r'^jobs_duration_seconds_count\{queue="default"\} (\S+)', text, re.M)
    return (float(s.group(1)) if s else 0.0, int(float(c.group(1))) if c else 0)

tok = api.creator("bench_img")
time.sleep(1)
idle_rss, idle_hwm = status("VmRSS"), status("VmHWM")
print(f"fanz idle before the first upload: RSS {idle_rss:.1f} MiB, peak so far {idle_hwm:.1f} MiB")

def vips_run(out, effort):
    os.mkdir(out)
    r = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "bash", f"{work}/vips.sh",
                        f"{work}/photo.jpg", out, str(effort)], check=True, capture_output=True, text=True)
    e, u, s, m = r.stderr.strip().splitlines()[-1].split()
    return (float(e), float(u) + float(s), int(m) / 1024)

def pyvips_run(out, effort):
    os.mkdir(out)
    r = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", vips_python, f"{work}/vips.py",
                        f"{work}/photo.jpg", out, str(effort)], check=True, capture_output=True, text=True)
    work_s, work_cpu, base_rss = map(float, r.stdout.split())
    e, u, s, m = r.stderr.strip().splitlines()[-1].split()
    # in-process work time and CPU; peak RSS of the whole process, and of python with
    # libvips loaded before any work
    return (work_s, work_cpu, int(m) / 1024, float(e), base_rss / 1024)

vips, vips0, py4, py0, fanz = [], [], [], [], []
for i in range(runs):
    out = f"{work}/v{i}"
    vips.append(vips_run(out, 4))
    vips0.append(vips_run(f"{work}/z{i}", 0))
    if vips_python:
        py4.append(pyvips_run(f"{work}/p{i}", 4))
        py0.append(pyvips_run(f"{work}/q{i}", 0))

    js0, jc0 = job_seconds()
    c0 = cpu()
    t0 = time.monotonic()
    res = subprocess.run(["curl", "-fsS", "-H", f"authorization: Bearer {tok}",
                          "-F", f"file=@{work}/photo.jpg", base + "/api/v1/media"],
                         check=True, capture_output=True).stdout
    uploaded = time.monotonic()
    mid = json.loads(res)["id"]
    item = api.wait_processed(mid, tok, every=0.05)
    ready = time.monotonic()
    assert item["state"] == "ready", item
    c1 = cpu()
    time.sleep(0.3)  # the job's metric is recorded as it finishes
    js1, jc1 = job_seconds()
    job = (js1 - js0) if jc1 - jc0 == 1 else float("nan")
    fanz.append((ready - uploaded, job, c1 - c0, status("VmHWM"), uploaded - t0))
    print(f"run {i + 1}: vips {vips[-1][0]:.2f} s wall, {vips[-1][1]:.2f} CPU-s, {vips[-1][2]:.1f} MiB | "
          f"vips effort 0 {vips0[-1][0]:.2f} s, {vips0[-1][1]:.2f} CPU-s, {vips0[-1][2]:.1f} MiB | "
          + (f"pyvips {py4[-1][0]:.2f} s, {py4[-1][1]:.2f} CPU-s, {py4[-1][2]:.1f} MiB | "
             f"pyvips effort 0 {py0[-1][0]:.2f} s, {py0[-1][1]:.2f} CPU-s, {py0[-1][2]:.1f} MiB | " if vips_python else "") +
          f"fanz upload {uploaded - t0:.2f} s, answered->ready {ready - uploaded:.2f} s, job {job:.2f} s, "
          f"{c1 - c0:.2f} CPU-s, server peak {fanz[-1][3]:.1f} MiB")
    if i == runs - 1:
        print("outputs (name: fanz | vips, WebP effort 4 | effort 0):")
        for r in sorted(item["renditions"], key=lambda r: r["name"]):
            p = f"{out}/{r['name']}"
            dims = subprocess.run(["vipsheader", "-f", "width", p], capture_output=True, text=True).stdout.strip() + "x" + \
                   subprocess.run(["vipsheader", "-f", "height", p], capture_output=True, text=True).stdout.strip()
            print(f"  {r['name']:11} {r['width']}x{r['height']} {r['bytes'] / 1024:8.1f} KiB | "
                  f"{dims} {os.path.getsize(p) / 1024:8.1f} KiB | "
                  f"{os.path.getsize(p.replace('/v' + str(i) + '/', '/z' + str(i) + '/')) / 1024:8.1f} KiB")

med = statistics.median
def summary(runs_, label):
    w, c, m = med(v[0] for v in runs_), med(v[1] for v in runs_), max(v[2] for v in runs_)
    print(f"{label}: {w:.2f} s wall, {c:.2f} CPU-s, peak RSS {m:.1f} MiB")
    return w, c, m
print(f"\nmedians of {runs} runs (peaks: the largest)")
vw0, vc0, vm0 = summary(vips0, "vips CLI (12 processes), WebP effort 0")
vw, vc, vm = summary(vips, "vips CLI (12 processes), WebP effort 4")
compare = [("vips CLI, effort 4", vw, vc, vm), ("vips CLI, effort 0", vw0, vc0, vm0)]
if vips_python:
    for runs_, label in ((py4, "pyvips, effort 4"), (py0, "pyvips, effort 0")):
        w, c, m = summary(runs_, label + ", one process (the work)")
        print(f"  (the process: {med(v[3] for v in runs_):.2f} s wall with interpreter start; "
              f"{max(v[4] for v in runs_):.1f} MiB peak before any work)")
        compare.append((label, w, c, m))
fw, fj, fc = med(f[0] for f in fanz), med(f[1] for f in fanz), med(f[2] for f in fanz)
fpeak = fanz[-1][3]
print(f"fanz:    {fw:.2f} s upload answered->ready, {fj:.2f} s the job, {fc:.2f} CPU-s, "
      f"server peak RSS {fpeak:.1f} MiB ({fpeak - idle_hwm:+.1f} MiB over the idle server's peak "
      f"{idle_hwm:.1f}; after run 1: {fanz[0][3]:.1f} MiB)")
for label, w, c, m in compare:
    print(f"fanz against {label}: speed {w / fw:.2f}x by wall time (answered->ready), "
          f"{w / fj:.2f}x by the job's time, {c / fc:.2f}x by CPU time; memory {fpeak / m:.2f}x "
          f"(whole server), {(fpeak - idle_hwm) / m:.2f}x (the increase over idle)")
print(f"load average at the end: {open('/proc/loadavg').read().split()[:3]}")
PY
