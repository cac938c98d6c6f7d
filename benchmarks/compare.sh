#!/usr/bin/env bash
# One sitting of `lpft-mpi bench model` against benchmarks/pytorch_baseline.py: for each shape,
# ours and PyTorch's alternate ROUNDS times (the machine drifts between runs), then one markdown
# table of the means: train and eval examples/s, ratios, our training's fraction of the sgemm
# rate, peak memory; then each round's ratio (median and range). Needs a venv with torch
# and transformers (docs/speed.md):
#   benchmarks/compare.sh /tmp/torchenv/bin/python [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${1:?give the python of a venv with torch and transformers}
rounds=${2:-2}
bin="$here/.build/release/lpft-mpi"
out=$(mktemp)
for shape in "8 128 10" "8 32 10" "64 128 3"; do
  set -- $shape
  for _ in $(seq "$rounds"); do
    echo "ours $("$bin" bench model --batch "$1" --seq "$2" --steps "$3" --json)" >> "$out"
    echo "torch $("$python" "$here/benchmarks/pytorch_baseline.py" --threads 2 --batch "$1" --seq "$2" --steps "$3" 2>/dev/null | tail -1)" >> "$out"
  done
done
python3 - "$out" <<'PY'
import json, sys
from collections import defaultdict
from statistics import median
runs = defaultdict(lambda: defaultdict(list))
for line in open(sys.argv[1]):
    who, record = line.split(" ", 1)
    r = json.loads(record)
    shape = (r["batch"], r["seq"])
    runs[shape][who + " train"].append(r["train_examples_per_s"])
    runs[shape][who + " eval"].append(r["eval_examples_per_s"])
    if who == "ours":
        runs[shape]["fraction"].append(r["train_gflops_ratio_to_sgemm"])
        runs[shape]["sgemm"].append(r["sgemm_gflops"])
        runs[shape]["rss"].append(r["peak_rss_mib"])
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
PY
rm -f "$out"
