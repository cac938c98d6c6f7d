#!/usr/bin/env python3
"""The eNTK of a whole training split on 1..64 nodes, from measured runs (docs/scaling.md).

Reads docs/scaling/ntk-n*.json (the plan and run parts of a `lpft-mpi ntk` kernel.json,
np = 2 on this machine) and prints (1) the measured points with their breakdown and (2) the
predicted wall time on P nodes like this one (2 ranks each), for link rates LINKS_GBIT:

    t(P) = t_jacobian / P + max(t_gram / P, t_wire(P)) + t_rank0
    t_jacobian = forward + backward + jacobian_copy + word_embeddings + one_step   (rows split over ranks)
    t_gram     = the Gram products (flops split over ranks)
    t_wire(P)  = bytes a node receives from other nodes / link rate   (rows mode: every rank
                 receives every other rank's Jacobian rows of every chunk once; it overlaps the
                 products: a worker multiplies slab s while slab s+1 is exchanged)
    t_rank0    = gather + checkpoint + analysis + write (rank 0 alone; does not shrink with P)

Conservative in one respect: the chunk count is kept as measured, although a rank with fewer
rows fits larger chunks (fewer forward passes) in the same memory budget.
Standard library only.
"""
import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
LINKS_GBIT = [10, 25, 100]
NODES = [1, 2, 4, 8, 16, 32, 64]
RANKS_PER_NODE = 2
JACOBIAN_PHASES = ["forward", "backward", "jacobian_copy", "word_embeddings", "one_step"]
RANK0_PHASES = ["gather", "checkpoint", "analysis", "write"]


def load():
    runs = []
    for path in sorted(glob.glob(os.path.join(HERE, "ntk-n*.json"))):
        with open(path) as f:
            k = json.load(f)
        runs.append({
            "file": os.path.basename(path),
            "n": k["train"], "m": k["eval"], "classes": k["classes"],
            "dense": k["dense_count"], "plan": k["plan"], "run": k["run"],
        })
    return sorted(runs, key=lambda r: r["n"])


def breakdown(run):
    t = run["run"]["timings"]
    jac = sum(t.get(p, 0) for p in JACOBIAN_PHASES)
    rank0 = sum(t.get(p, 0) for p in RANK0_PHASES)
    return {"total": run["run"]["total_seconds"], "jacobian": jac, "gram": t["gram"],
            "exchange": t["exchange"], "rank0": rank0, "analysis": t["analysis"]}


def wire_bytes_per_node(run, nodes):
    """Jacobian rows a node receives from other nodes over the whole job (float32)."""
    ranks = nodes * RANKS_PER_NODE
    rows = run["n"] * run["classes"]  # partners exchange train rows; eval rows stay with their rank
    if nodes == 1:
        return 0.0
    per_rank = rows * (ranks - RANKS_PER_NODE) / ranks * run["dense"] * 4
    return RANKS_PER_NODE * per_rank


def predict(run, nodes, gbit):
    b = breakdown(run)
    measured_nodes = run["plan"]["ranks"] / RANKS_PER_NODE
    scale = measured_nodes / nodes
    wire = wire_bytes_per_node(run, nodes) / (gbit * 1e9 / 8)
    return b["jacobian"] * scale + max(b["gram"] * scale, wire) + b["rank0"]


def main():
    runs = load()
    print("measured (np = 2, this machine):")
    print("| N | M | chunks | total s | Gram products | Jacobian passes | exchange | rank 0 (analysis) | Gram GFLOP/s per rank | peak RSS MiB per rank |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in runs:
        b = breakdown(r)
        share = lambda x: f"{x:.0f} s ({100 * x / b['total']:.0f} %)"
        print(f"| {r['n']} | {r['m']} | {r['plan']['chunks']} | {b['total']:.0f} | {share(b['gram'])} | {share(b['jacobian'])} | "
              f"{share(b['exchange'])} | {share(b['rank0'])} ({b['analysis']:.0f} s) | "
              f"{' / '.join(f'{g:.0f}' for g in r['run']['gram_gflops'])} | "
              f"{' / '.join(f'{m:.0f}' for m in r['run']['peak_rss_mib'])} |")
    print()
    print("predicted wall time (minutes) on P nodes like this one, 2 ranks each:")
    print("| N | link | " + " | ".join(f"P={p}" for p in NODES) + " |")
    print("|---:|---|" + "---:|" * len(NODES))
    for r in runs:
        for gbit in LINKS_GBIT:
            cells = [f"{predict(r, p, gbit) / 60:.1f}" for p in NODES]
            print(f"| {r['n']} | {gbit} Gbit/s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
