#!/usr/bin/env bash
# Measures `lpft-mpi bench allreduce` across 2 and 3 namespace hosts whose links are shaped
# (scripts/netns-cluster.sh shape), for the scaling model (docs/scaling.md):
#   scripts/measure-allreduce-netns.sh RATE DELAY OUT.json [MAX_BYTES]
#   e.g. scripts/measure-allreduce-netns.sh 1gbit none docs/scaling/allreduce-1gbit.json
# DELAY "none" adds no delay (needed where the kernel has no netem).
# OUT.json: {"rate": RATE, "delay": DELAY, "runs": [{"hosts": P, "bench": {bench --json}}, ...]}
# with the bench's rows (bytes, latency_us = slowest rank's mean seconds per allreduce, ...).
# One rank per host; the cluster is torn down on any exit.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -ge 3 ]] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
rate=$1; delay=$2; out=$3; max_bytes=${4:-16777216}
binary="$here/.build/release/lpft-mpi"
[[ -x "$binary" ]] || { echo "measure: build first (swift build -c release)" >&2; exit 2; }
cluster="$here/scripts/netns-cluster.sh"
runs=()
for hosts in 2 3; do
  json=$(bash "$cluster" run "$hosts" -- bash -c '
    set -euo pipefail
    if [[ "$2" == none ]]; then bash "$0" shape "$1" >&2; else bash "$0" shape "$1" "$2" >&2; fi
    OPENBLAS_NUM_THREADS=1 bash "$0" mpirun -np "$3" --map-by node "$4" bench allreduce \
      --min-bytes 4 --max-bytes "$5" --bytes-per-measurement 33554432 --json' \
    "$cluster" "$rate" "$delay" "$hosts" "$binary" "$max_bytes")
  runs+=("{\"hosts\": $hosts, \"bench\": $json}")
done
mkdir -p "$(dirname "$out")"
{
  printf '{"rate": "%s", "delay": "%s", "measured": "%s", "runs": [' "$rate" "$delay" "$(date -u +%Y-%m-%d)"
  (IFS=,; printf '%s' "${runs[*]}")
  printf ']}\n'
} >"$out"
echo "measure: wrote $out"
