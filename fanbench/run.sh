#!/usr/bin/env bash
# Regenerates fanbench's tables of docs/benchmarks.md, each from one `fanbench` run:
#
#   throughput  closed loop, W = 1, 2, 4, a trivial map and 1 µs of work per item, fanring
#               against the crossbeam and std seeds, the rtrb pipeline, the plain loop, rayon
#   latency     open loop (paced), fixed rates 10 k, 100 k, 1 M items/s at W = 2 and 4: fanring,
#               fanring-lowlat, the crossbeam seed and the rtrb pipeline, with the CPU columns
#   rows        image rows (a buffer allocated per item, about 40 µs of work each), W = 1, 2, 4
#   idle        the CPU an idle pipeline burns (fed a few items, then none for 10 ms)
#   pipeline    multi-stage workloads (Mandelbrot rows over two unbalanced stages, five image
#               filters, LZ4 block compression with an ordered writer) at W = 1, 2, 4 threads
#               per stage: fanring against std threads + crossbeam, rayon, tokio, the plain loop
#   per-round   600 ns of work at W = 1 and 2 against the plain loop, round by round (7 reps)
#
# Usage: fanbench/run.sh [OUT_DIR]      (from anywhere; OUT_DIR defaults to fanbench/results/)
#        QUICK=1 fanbench/run.sh        tiny sizes: checks that every table runs (about 15 s
#                                       once built); its figures mean nothing
#        MANY_CORE=1 fanbench/run.sh    the tables for a machine of 16 cores or more instead
#                                       (docs/benchmarks.md, "A many-core machine"):
#   scaling     the throughput table's rows at W = 1, 2, 4, 6, 8, 10, 12, 14, pinned (the
#               engine's default pinning: a core per role while cores last)
#   latency     the latency table at W = 2, 4, 8 and 14
#   pipeline    the pipeline table at W = 2, 4, 8 and 14
#               about 5 minutes on 16 cores (estimated from the 2-core timings)
#        FANBENCH_BIN=path/to/fanbench  runs that binary (built beforehand, `cargo build
#                                       --release -p fanbench`) instead of building: for a
#                                       machine without the crates' registry
#
# Each table NAME writes OUT_DIR/NAME.txt (the table as printed), NAME.json (every row and
# the machine), NAME.csv and, for throughput, latency, pipeline and per-round, NAME.svg (and
# NAME.png when rsvg-convert is installed). The full run takes about 6 minutes on the 2-core
# development VM; run it on a quiet machine (docs/benchmarks.md, "Machine").
set -euo pipefail
# OUT_DIR and FANBENCH_BIN are read from where the script was started, before it moves to
# the repository's root.
from_caller() { case $1 in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
out="${1:+$(from_caller "$1")}"
[ -z "${FANBENCH_BIN:-}" ] || FANBENCH_BIN="$(from_caller "$FANBENCH_BIN")"
cd "$(dirname "$0")/.."
out="${out:-fanbench/results}"
mkdir -p "$out"

# Sizes: fanbench's defaults (1 M items per run, 3 reps, 0.5 s per paced run, 2048 rows, the
# pipeline workloads' defaults), or tiny ones.
if [ -n "${QUICK:-}" ] && [ "${QUICK}" != 0 ]; then
  closed=(--items 20000 --reps 1)
  paced=(--latency-secs 0.02 --reps 1)
  rows=(--rows 16 --row-us 5 --reps 1)
  idle=(--reps 1)
  pipeline=(--mandel 128:20+10 --images 16 --image-size 32x32 --blocks 16 --block-kib 16 --reps 1)
  per_round=(--items 20000 --reps 3)
else
  closed=()
  paced=()
  rows=()
  idle=()
  pipeline=()
  per_round=(--reps 7)
fi

show() { printf '+'; printf ' %q' "$@"; printf '\n'; }

if [ -n "${FANBENCH_BIN:-}" ]; then
  fanbench=("$FANBENCH_BIN")
  "$FANBENCH_BIN" --version >/dev/null || { echo "FANBENCH_BIN=$FANBENCH_BIN does not run"; exit 1; }
else
  fanbench=(cargo run --release -q -p fanbench --bin fanbench --)
  show cargo build --release -p fanbench --bin fanbench
  cargo build --release -p fanbench --bin fanbench
fi

# table NAME FLAGS...: one fanbench run; its files go to OUT_DIR/NAME.*. fanbench names the
# latency, rows, idle and pipeline CSVs (and the latency and pipeline SVGs) FILE-latency.csv
# and so on, next to the throughput ones; each table here has one kind of rows, so they are
# renamed to NAME.csv.
table() {
  local name=$1
  shift
  local cmd=("${fanbench[@]}" "$@"
    --json "$out/$name.json" --csv "$out/$name.csv" --plot "$out/$name.svg")
  printf '\n'
  show "${cmd[@]}"
  "${cmd[@]}" | tee "$out/$name.txt"
  local kind ext
  for kind in latency rows idle pipeline; do
    for ext in csv svg; do
      if [ -e "$out/$name-$kind.$ext" ]; then
        show mv "$out/$name-$kind.$ext" "$out/$name.$ext"
        mv "$out/$name-$kind.$ext" "$out/$name.$ext"
      fi
    done
  done
}

if [ -n "${MANY_CORE:-}" ] && [ "${MANY_CORE}" != 0 ]; then
  table scaling --measure throughput --workers 1,2,4,6,8,10,12,14 --work-ns 0,1000 \
    --baseline all,rtrb,seq,rayon "${closed[@]}"
  table latency --measure latency --rate 10000,100000,1000000 --latency-workers 2,4,8,14 \
    --baseline none "${paced[@]}"
  table pipeline --measure pipeline --workers 2,4,8,14 "${pipeline[@]}"
else
  table throughput --measure throughput --workers 1,2,4 --work-ns 0,1000 \
    --baseline all,rtrb,seq,rayon "${closed[@]}"
  # The latency table always has fanring, fanring-lowlat, the crossbeam seed and the rtrb
  # pipeline; --baseline only adds the async rows.
  table latency --measure latency --rate 10000,100000,1000000 --latency-workers 2,4 \
    --baseline none "${paced[@]}"
  table rows --measure rows --workers 1,2,4 "${rows[@]}"
  table idle --measure idle "${idle[@]}"
  table pipeline --measure pipeline --workers 1,2,4 "${pipeline[@]}"
  table per-round --measure throughput --workers 1,2 --work-ns 600 --baseline seq \
    "${per_round[@]}"
fi

printf '\n'
if command -v rsvg-convert >/dev/null 2>&1; then
  for svg in "$out"/*.svg; do
    show rsvg-convert "$svg" -o "${svg%.svg}.png"
    rsvg-convert "$svg" -o "${svg%.svg}.png"
  done
else
  echo "rsvg-convert is not installed: the plots stay SVG (apt-get install librsvg2-bin)"
fi
echo "results in $out/"
