#!/usr/bin/env bash
# Measures the overlap of the gradient allreduce with backward (`lpft-mpi bench step`) across
# namespace hosts (scripts/netns-cluster.sh) whose links are shaped to RATE, one rank per host:
#   scripts/measure-overlap-netns.sh RATE_MBIT [HOSTS [BUCKET_MB [ROUNDS]]]
#   e.g. scripts/measure-overlap-netns.sh 1000 2 4
# Prints the bench's report and, as its last line, one JSON object
#   {"hosts", "rate_mbit", "bucket_mb", "gradient_bytes", "batch", "seq", "rounds", "compute_s",
#    "allreduce_s", "step_off_s", "step_on_s", "hidden_fraction"}
# with hidden_fraction = (step_off − step_on) / allreduce (medians of the slowest rank).
# $BENCH_OPTIONS are added to the bench (e.g. "--batch 8 --seq 128").
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -ge 1 ]] || { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
rate=$1; hosts=${2:-2}; bucket=${3:-25}; rounds=${4:-8}
[[ $rate =~ ^[0-9]+$ && $rate -gt 0 ]] || { echo "measure: RATE_MBIT must be a positive whole number of Mbit/s (got '$rate')" >&2; exit 2; }
[[ $hosts =~ ^[2-8]$ ]] || { echo "measure: HOSTS must be 2…8 (got '$hosts')" >&2; exit 2; }
binary="$here/.build/release/lpft-mpi"
[[ -x "$binary" ]] || { echo "measure: build first (swift build -c release)" >&2; exit 2; }
cluster="$here/scripts/netns-cluster.sh"
json=$(bash "$cluster" run "$hosts" -- bash -c '
  set -euo pipefail
  bash "$0" shape "$1mbit" >&2
  OPENBLAS_NUM_THREADS=1 bash "$0" mpirun -np "$2" --map-by node "$3" bench step \
    --bucket-mb "$4" --rounds "$5" $6 --json' \
  "$cluster" "$rate" "$hosts" "$binary" "$bucket" "$rounds" "${BENCH_OPTIONS:-}" | tail -1)
echo "$json" >&2
python3 - "$json" "$rate" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(json.dumps({"hosts": r["ranks"], "rate_mbit": int(sys.argv[2]), "bucket_mb": r["bucket_mb"],
                  "gradient_bytes": r["gradient_bytes"], "batch": r["batch"], "seq": r["seq"], "rounds": r["rounds"],
                  "compute_s": r["compute_s"], "allreduce_s": r["allreduce_s"], "step_off_s": r["step_off_s"],
                  "step_on_s": r["step_on_s"], "hidden_fraction": r["hidden_fraction"]}))
PY
