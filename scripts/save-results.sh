#!/usr/bin/env bash
# Keeps the finished runs of a sweep in the repository (docs/results/runs/<sweep name>/), small
# files only: config.json, metrics.json, history.jsonl, steps.jsonl, head.safetensors and each
# kernel snapshot's kernel.json + ntk.npy (what `lpft-mpi report` reads; no logits, checkpoints
# or models). A later sitting resumes the sweep without redoing them:
#   scripts/save-results.sh SWEEPDIR                 # e.g. sweeps/sentiment-ood
#   lpft-mpi sweep plan examples/grids/sentiment-ood.yaml --out sweeps/sentiment-ood
#   cp -r docs/results/runs/sentiment-ood/. sweeps/sentiment-ood/runs/    # then sweep run skips them
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $# -eq 1 && -f "$1/manifest.jsonl" ]] || { echo "save-results: give a sweep folder (with manifest.jsonl)" >&2; exit 2; }
sweep=$(cd "$1" && pwd)
dest="$here/docs/results/runs/$(basename "$sweep")"
saved=0
for run in "$sweep"/runs/*/; do
  [[ -f "$run/metrics.json" ]] || continue
  id=$(basename "$run")
  mkdir -p "$dest/$id"
  for f in config.json metrics.json history.jsonl steps.jsonl head.safetensors; do
    [[ -f "$run/$f" ]] && cp "$run/$f" "$dest/$id/$f"
  done
  for snapshot in "$run"/ntk/epoch-*/; do
    [[ -f "$snapshot/kernel.json" ]] || continue
    mkdir -p "$dest/$id/ntk/$(basename "$snapshot")"
    cp "$snapshot/kernel.json" "$dest/$id/ntk/$(basename "$snapshot")/"
    # Kernels over 1 MiB (e.g. 100 examples × 5 classes) stay out of the repository: the report
    # then shows the kernel's statistics (kernel.json) but not the run's kernel trajectory.
    (( $(stat -c %s "$snapshot/ntk.npy") <= 1048576 )) || continue
    cp "$snapshot/ntk.npy" "$dest/$id/ntk/$(basename "$snapshot")/"
  done
  saved=$((saved + 1))
done
echo "save-results: $saved finished run(s) of $sweep in $dest"
