#!/usr/bin/env python3
"""Reads a run's TensorBoard event files with TensorBoard's own reader (EventAccumulator) and
checks them against the run's steps.jsonl and history.jsonl.

    scripts/check-tensorboard.py RUN_DIR [EVENT_DIR]   (EVENT_DIR default RUN_DIR/tensorboard)

Prints one line per tag ("TAG: N values match") and exits 1 on any difference. Values are
float32 in the event files, so they are compared at float32 precision.
"""
import json
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main():
    run = Path(sys.argv[1])
    events = Path(sys.argv[2]) if len(sys.argv) > 2 else run / "tensorboard"
    acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
    acc.Reload()
    steps, history = lines(run / "steps.jsonl"), lines(run / "history.jsonl")
    expected = {
        "train/loss": {s["global_step"]: s["loss"] for s in steps},
        "train/learning_rate": {s["global_step"]: s["learning_rate"] for s in steps},
        "train/grad_norm": {s["global_step"]: s["grad_norm"] for s in steps},
        "train/step_seconds": {s["global_step"]: s["seconds"] for s in steps},
        "train/allreduce_seconds": {s["global_step"]: s["allreduce_seconds"] for s in steps},
        "validation/accuracy": {h["global_step"]: h["validation_accuracy"] for h in history},
        "validation/loss": {h["global_step"]: h["validation_loss"] for h in history},
        "validation/head_norm": {h["global_step"]: h["head_norm"] for h in history},
    }
    tags = set(acc.Tags()["scalars"])
    failures = 0
    for tag, want in expected.items():
        if tag not in tags:
            print(f"{tag}: missing (tags: {sorted(tags)})")
            failures += 1
            continue
        got = {e.step: e.value for e in acc.Scalars(tag)}
        bad = [(s, got.get(s), v) for s, v in want.items()
               if got.get(s) is None or abs(got[s] - v) > 1e-6 * max(1.0, abs(v))]
        if bad or set(got) != set(want):
            print(f"{tag}: {len(bad)} of {len(want)} differ, e.g. {bad[:3]}; steps {sorted(got)[:5]}…")
            failures += 1
        else:
            print(f"{tag}: {len(want)} values match")
    extra = tags - set(expected) - {"train/examples_per_s"}
    if extra:
        print(f"unexpected tags: {sorted(extra)}")
        failures += 1
    if "train/examples_per_s" in tags:
        values = [e.value for e in acc.Scalars("train/examples_per_s")]
        print(f"train/examples_per_s: {len(values)} values, all positive: {all(v > 0 for v in values)}")
        failures += 0 if all(v > 0 for v in values) else 1
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
