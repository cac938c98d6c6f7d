#!/usr/bin/env bash
# One sitting of `lpft-mpi bench model` against benchmarks/pytorch_baseline.py: for each shape,
# ours and PyTorch's alternate ROUNDS times (the machine drifts between runs), then one markdown
# table of the means: train and eval examples/s, ratios, our training's fraction of the sgemm
# rate, peak memory; then each round's ratio (median and range); then what issue 17's targets
# would need, in GFLOP/s over the whole step or forward, against the cores' multiply-add peak
# (benchmarks/fma_peak.c, measured in every round). Needs a C compiler and a venv with torch
# and transformers (docs/speed.md):
#   benchmarks/compare.sh /tmp/torchenv/bin/python [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${1:?give the python of a venv with torch and transformers}
rounds=${2:-2}
bin="$here/.build/release/lpft-mpi"
out=$(mktemp)
peak=$(mktemp)
compiler=${CC:-$(command -v cc || command -v clang || command -v gcc || true)}
[ -n "$compiler" ] || { echo "compare.sh: no C compiler for benchmarks/fma_peak.c (install gcc or set CC)" >&2; exit 1; }
"$compiler" -O2 -march=native -pthread "$here/benchmarks/fma_peak.c" -o "$peak"
for shape in "8 128 10" "8 32 10" "64 128 3"; do
  set -- $shape
  for _ in $(seq "$rounds"); do
    echo "ours $("$bin" bench model --batch "$1" --seq "$2" --steps "$3" --json)" >> "$out"
    echo "torch $("$python" "$here/benchmarks/pytorch_baseline.py" --threads 2 --batch "$1" --seq "$2" --steps "$3" 2>/dev/null | tail -1)" >> "$out"
    echo "peak $("$peak" 2 | tail -1)" >> "$out"
  done
done
python3 - "$out" <<'PY'
import json, sys
from collections import defaultdict
from statistics import median
runs = defaultdict(lambda: defaultdict(list))
peaks = []
for line in open(sys.argv[1]):
    who, record = line.split(" ", 1)
    r = json.loads(record)
    if who == "peak":
        peaks.append(r["fma_peak_gflops"])
        continue
    shape = (r["batch"], r["seq"])
    runs[shape][who + " train"].append(r["train_examples_per_s"])
    runs[shape][who + " eval"].append(r["eval_examples_per_s"])
    if who == "ours":
        runs[shape]["fraction"].append(r["train_gflops_ratio_to_sgemm"])
        runs[shape]["sgemm"].append(r["sgemm_gflops"])
        runs[shape]["rss"].append(r["peak_rss_mib"])
        runs[shape]["train flop"].append(r["train_gflops"] / r["train_examples_per_s"])
        runs[shape]["eval flop"].append(r["eval_gflops"] / r["eval_examples_per_s"])
mean = lambda xs: sum(xs) / len(xs)
print("| batch × seq | train ours | train PyTorch | ratio | eval ours | eval PyTorch | ratio | train / sgemm | sgemm GFLOP/s | peak RSS MiB |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for (b, t), v in runs.items():
    tr, ttr = mean(v["ours train"]), mean(v["torch train"])
    ev, tev = mean(v["ours eval"]), mean(v["torch eval"])
    print(f"| {b} × {t} | {tr:.2f} | {ttr:.2f} | {tr / ttr:.2f} | {ev:.1f} | {tev:.1f} | {ev / tev:.2f} | "
          f"{mean(v['fraction']):.2f} | {mean(v['sgemm']):.0f} | {max(v['rss']):.0f} |")
# Each round's ours/PyTorch ratio (adjacent runs share the machine's state): their median and
# range, a check on the ratio of means above when the machine drifts.
print()
print("| batch × seq | train ratio per round: median (min–max) | eval ratio per round: median (min–max) |")
print("| --- | ---: | ---: |")
for (b, t), v in runs.items():
    cells = []
    for kind in ("train", "eval"):
        r = [o / p for o, p in zip(v["ours " + kind], v["torch " + kind])]
        cells.append(f"{median(r):.2f} ({min(r):.2f}–{max(r):.2f})")
    print(f"| {b} × {t} | {cells[0]} | {cells[1]} |")
# Issue 17's targets as rates: target × PyTorch's examples/s × our GFLOP per example (our count:
# the last layer computes only the feature row), against the sgemm rate and the multiply-add
# peak of the same rounds. Above the peak, no fp32 implementation of this work reaches it.
targets = {(8, 128): (2.0, 1.5), (8, 32): (2.5, 2.0), (64, 128): (None, 1.5)}
print()
print(f"FMA peak, 2 threads: {mean(peaks):.0f} GFLOP/s (min {min(peaks):.0f}, max {max(peaks):.0f})")
print()
print("| batch × seq | target | needs GFLOP/s | / sgemm | / FMA peak |")
print("| --- | --- | ---: | ---: | ---: |")
for (b, t), v in runs.items():
    for kind, factor in zip(("train", "eval"), targets.get((b, t), (None, None))):
        if factor is None:
            continue
        need = factor * mean(v["torch " + kind]) * mean(v[kind + " flop"])
        print(f"| {b} × {t} | {kind} {factor}× PyTorch | {need:.0f} | {need / mean(v['sgemm']):.2f} | "
              f"{need / mean(peaks):.2f} |")
PY
rm -f "$out" "$peak"
