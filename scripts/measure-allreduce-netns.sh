#!/usr/bin/env bash
# Measures `lpft-mpi bench allreduce` across 2 and 3 namespace hosts whose links are shaped
# (scripts/netns-cluster.sh shape), for the scaling model (docs/scaling.md):
#   scripts/measure-allreduce-netns.sh RATE DELAY OUT.json [MIN_BYTES [MAX_BYTES]]
#   e.g. scripts/measure-allreduce-netns.sh 1gbit none docs/scaling/allreduce-1gbit.json
# DELAY "none" adds no delay (needed where the kernel has no netem). $MPIRUN_OPTIONS are added
# to mpirun, e.g. to force the ring algorithm the model assumes:
#   MPIRUN_OPTIONS="--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm 4"
# OUT.json: {"rate": RATE, "delay": DELAY, "runs": [{"hosts": P, "bench": {bench --json}}, ...]}
# with the bench's rows (bytes, latency_us = slowest rank's mean seconds per allreduce, ...).
# One rank per host; the cluster is torn down on any exit.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -ge 3 ]] || { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
rate=$1; delay=$2; out=$3; min_bytes=${4:-1024}; max_bytes=${5:-16777216}
binary="$here/.build/release/lpft-mpi"
[[ -x "$binary" ]] || { echo "measure: build first (swift build -c release)" >&2; exit 2; }
cluster="$here/scripts/netns-cluster.sh"
runs=()
for hosts in 2 3; do
  json=$(bash "$cluster" run "$hosts" -- bash -c '
    set -euo pipefail
    if [[ "$2" == none ]]; then bash "$0" shape "$1" >&2; else bash "$0" shape "$1" "$2" >&2; fi
    OPENBLAS_NUM_THREADS=1 bash "$0" mpirun -np "$3" --map-by node $7 "$4" bench allreduce \
      --min-bytes "$5" --max-bytes "$6" --bytes-per-measurement 1048576 --json' \
    "$cluster" "$rate" "$delay" "$hosts" "$binary" "$min_bytes" "$max_bytes" "${MPIRUN_OPTIONS:-}")
  runs+=("{\"hosts\": $hosts, \"bench\": $json}")
done
mkdir -p "$(dirname "$out")"
{
  printf '{"rate": "%s", "delay": "%s", "mpirun_options": "%s", "measured": "%s", "runs": [' \
    "$rate" "$delay" "${MPIRUN_OPTIONS:-}" "$(date -u +%Y-%m-%d)"
  (IFS=,; printf '%s' "${runs[*]}")
  printf ']}\n'
} >"$out"
echo "measure: wrote $out"
