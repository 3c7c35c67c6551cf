#!/usr/bin/env bash
# The tuning workflow's speed: a 5 x 5 sweep over 10 catalog scenarios x
# 200 seeds (25 cells, 50 000 runs), timed whole, with the winner's paired
# comparison against the base policy (the default policy is the cell
# max_increase=0.01, pause=10m, whose runs the comparison reuses). Prints
# the wall time and the runs per second. Usage: bench/sweep.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p cli >/dev/null 2>&1
threads=${1:-$(nproc)}
start=$(date +%s.%N)
target/release/aviary sweep examples/tuning/suite.toml \
  --vary 'analysis.checks[0].max_increase=0.003,0.005,0.0075,0.01,0.02' \
  --vary 'steps[0].pause=2m,5m,10m,15m,20m' \
  --threads "$threads" --format csv >/dev/null 2>&1
end=$(date +%s.%N)
python3 - "$start" "$end" "$threads" <<'PY'
import sys
start, end, threads = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
runs = 25 * 10 * 200
wall = end - start
print(f"sweep 5 x 5 x 10 scenarios x 200 seeds: {runs} runs in {wall:.1f} s on {threads} threads ({runs / wall:.0f} runs/s)")
PY
