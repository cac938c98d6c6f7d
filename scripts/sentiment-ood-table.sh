#!/usr/bin/env bash
# The five methods on the built-in sentiment-ood task at np = 1 and np = 2 (one seed), then a
# Markdown table of what the paper measures. Usage:
#   bash scripts/sentiment-ood-table.sh OUT_DIR [train flags...]     e.g. --epochs 3
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:?usage: scripts/sentiment-ood-table.sh OUT_DIR [train flags...]}; shift
for np in ${NPS:-1 2}; do
  for method in ${METHODS:-lp ft lp-ft lora lp-lora}; do
    dir="$out/np$np/$method"
    [[ -f "$dir/metrics.json" ]] && continue
    start=$(date +%s)
    "$here/scripts/launch" -np "$np" lpft-mpi train --task sentiment-ood --method "$method" --out "$dir" --quiet "$@"
    echo $(( $(date +%s) - start )) > "$dir/wall_seconds"   # launch to exit, start-up included
  done
done
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = []
for np_ in sorted(os.listdir(out)):
    if not np_.startswith("np"): continue
    for method in ["lp", "ft", "lp-ft", "lora", "lp-lora"]:
        path = os.path.join(out, np_, method, "metrics.json")
        if not os.path.exists(path): continue
        m = json.load(open(path))
        ev, hn = m["eval"], m["head_norm"]
        ood = [k for k in ev if k not in ("validation", "test")]
        rows.append((np_[2:], method, ev["test"]["accuracy"], [ev[k]["accuracy"] for k in ood],
                     ev["test"]["ece"], ev["test"]["ece_ts"], hn["init"], hn.get("after_lp"), hn["final"],
                     m["features"]["diff"], float(open(os.path.join(out, np_, method, "wall_seconds")).read())))
        names = ood
print("| np | method | ID acc | " + " | ".join(f"OOD {n}" for n in names) +
      " | ECE → ECE_ts (ID) | head norm init → LP → final | Diff(F) | wall |")
print("|" + "---|" * (7 + len(names)))
for r in rows:
    lp = "—" if r[7] is None else f"{r[7]:.2f}"
    print(f"| {r[0]} | {r[1]} | {100*r[2]:.1f} | " + " | ".join(f"{100*a:.1f}" for a in r[3]) +
          f" | {100*r[4]:.1f} → {100*r[5]:.1f} | {r[6]:.2f} → {lp} → {r[8]:.2f} | {r[9]:.3f} | {r[10]/60:.1f} min |")
PY
