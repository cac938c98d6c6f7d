#!/usr/bin/env python3
"""Scaling model of data-parallel lpft-mpi training (docs/scaling.md), with a plain SVG plot.

  python3 docs/scaling/model.py [MEASUREMENT.json ...]   (default: docs/scaling/allreduce-*.json)

1. Fits the cost of a ring allreduce, T(P, n) = 2(P-1)*alpha + 2(P-1)/P * n/beta, to
   `lpft-mpi bench allreduce` runs measured across P = 2 and 3 namespace hosts on rate-shaped
   links (scripts/measure-allreduce-netns.sh), per P, on messages >= 256 KiB (relative least
   squares); beta is reported as a fraction of the shaped rate.
2. Predicts the step time t(P) = t_compute + T(P, n), with t_compute measured by `bench model`, (without overlap; with it, `overlapped_step`;
   backward pass) for 2..256 nodes, 25 and 100 Gbit/s links, MiniLM-L6 and RoBERTa-base
   gradients (float32, dense), and the scaling efficiency t_compute / t(P).
3. Writes docs/scaling/scaling.svg (left: measured points and fitted model; right: predicted
   efficiency) and prints the tables that docs/scaling.md quotes.
Only the standard library is used.
"""
import glob
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- Gradient values allreduced every step (float32) -----------------------------------------
# The trainer sends everything outside the word-embedding table plus the table rows some rank
# touched (GradientBuckets): MiniLM-L6 22.7M parameters of which the table
# is 30,522 x 384 = 11.7M -> 11.0M + up to ~2,000 rows of a 32 x 128-token batch (0.8M);
# RoBERTa-base 125M, table 50,265 x 768 = 38.6M -> 86.4M + ~2,000 rows (1.5M).
MODELS = {
    "MiniLM-L6 (22.7M)": 11.8e6,
    "RoBERTa-base (125M)": 87.9e6,
}

# ---- Where the gradients come from during backward (for the overlapped model) ------------
# Backward runs the blocks top to bottom; each block's dense gradients are final when it is done
# (SequenceClassifier.backward(onGradientsReady:)), then the dense embeddings, then the touched
# word-table rows (packed, summed last). Values per block / embeddings / rows (float32 count).
STRUCTURE = {
    "MiniLM-L6 (22.7M)": {"layers": 6, "block": 1.774e6, "embeddings": 0.198e6, "rows": 0.8e6},
    "RoBERTa-base (125M)": {"layers": 12, "block": 7.088e6, "embeddings": 0.396e6, "rows": 1.5e6},
}
# Share of a step's compute that is backward (2 of the 3 products per layer).
BACKWARD_SHARE = 2 / 3
# Bucket size (train --bucket-mb; DDP's default 25 MiB).
BUCKET_BYTES = 25 * 2 ** 20

# ---- Compute per step (seconds per optimizer step on one node) ----------------------------
# MEASURED on this project's machine (2 vCPUs, AMD EPYC with AVX2; one rank, 2 BLAS threads;
# per-rank batch 32 x 128 tokens; 2026-11-27), `train_step_seconds` of
#     lpft-mpi bench model --json --batch 32 --seq 128                       (MiniLM-L6, real weights)
#     lpft-mpi bench model --json --batch 32 --seq 128 --model DIR           (DIR: RoBERTa-base's
#                                                 config.json only, so random weights; same flops)
# MiniLM: 3.47 s (69 GFLOP/s); RoBERTa-base: 17.9 s (112 GFLOP/s, 81 % of the same run's sgemm).
COMPUTE_SECONDS = {
    "MiniLM-L6 (22.7M)": 3.47,
    "RoBERTa-base (125M)": 17.9,
}
COMPUTE_IS_MEASURED = True
# A cluster node computes faster than this 2-vCPU machine; the tables also show t_compute
# divided by these factors (e.g. 10 for a ~1.4 TFLOP/s node). The plot uses the measured value.
NODE_SPEEDUPS = [1, 10]

LINKS_GBIT = [25, 100]
NODES = [2 ** k for k in range(1, 9)]  # 2 .. 256
# ---- Latency per ring step on a cluster (seconds) -----------------------------------------
# >>> ASSUMED: <<< 25 us, MPI over TCP on 25/100 GbE through one switch. Not taken from the
# harness: its small-message times on the shared 2-core machine vary by milliseconds with the
# load of other processes (see docs/scaling.md), and it has no netem to add a link delay.
ALPHA_SECONDS = 25e-6
# Bytes of the large-message fit (bandwidth-dominated messages).
FIT_MIN_BYTES = 256 * 1024


def ring_time(p, n_bytes, alpha, beta_bytes_per_s):
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * n_bytes / beta_bytes_per_s


def overlapped_step(compute, structure, bucket_bytes, allreduce_seconds):
    """Step time with the gradient buckets summed while backward runs (train --overlap on).
    Forward takes (1 - BACKWARD_SHARE) of `compute`, then the blocks' backward in equal parts,
    the dense embeddings last. A bucket closes once it holds `bucket_bytes` (the remainder at
    the end of backward, with the packed word-table rows); its sum starts when it closes and
    the one before it has finished (one link), taking allreduce_seconds(bytes). Returns
    (step seconds, seconds of communication after backward ended)."""
    layers = structure["layers"]
    per_block = compute * BACKWARD_SHARE / layers
    t = compute * (1 - BACKWARD_SHARE)
    pieces = [(structure["block"] * 4, t + per_block * (k + 1)) for k in range(layers)]
    pieces.append((structure["embeddings"] * 4, compute))
    link_free, filling = 0.0, 0.0
    for size, done in pieces:
        filling += size
        if filling >= bucket_bytes:
            link_free = max(link_free, done) + allreduce_seconds(filling)
            filling = 0.0
    filling += structure["rows"] * 4
    link_free = max(link_free, compute) + allreduce_seconds(filling)
    return max(compute, link_free), max(0.0, link_free - compute)


def parse_rate(text):
    units = {"gbit": 1e9, "mbit": 1e6, "kbit": 1e3}
    for unit, factor in units.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor / 8  # bytes per second
    raise ValueError(f"unknown rate {text}")


def algorithm_label(options):
    return "ring" if "coll_tuned_allreduce_algorithm 4" in options else "OpenMPI's choice"


def load(paths):
    points = []  # (rate text, algorithm label, P, bytes, seconds)
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        label = algorithm_label(data.get("mpirun_options", ""))
        for run in data["runs"]:
            p = run["bench"]["world_size"]
            for row in run["bench"]["rows"]:
                points.append((data["rate"], label, p, row["bytes"], row["latency_us"] * 1e-6))
    return points


def fit(points):
    """Relative least squares of T = 2(P-1)*alpha + 2(P-1)/P * n / beta over the messages of
    one world size P that are >= FIT_MIN_BYTES. Returns (alpha, beta)."""
    s11 = s12 = s22 = r1 = r2 = 0.0
    for _, _, p, n, t in points:
        if n < FIT_MIN_BYTES:
            continue
        a, b = 2 * (p - 1) / t, 2 * (p - 1) / p * n / t  # divided by t: relative residuals
        s11 += a * a
        s12 += a * b
        s22 += b * b
        r1 += a
        r2 += b
    det = s11 * s22 - s12 * s12
    alpha = (r1 * s22 - r2 * s12) / det
    inv_beta = (s11 * r2 - s12 * r1) / det
    return alpha, 1 / inv_beta


def svg_plot(path, groups, fits, predictions):
    width, height = 1040, 470
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

    def panel(x0, y0, w, h, xlog, ylog, xticks, yticks, xlabel, ylabel, title, xfmt, yfmt):
        def sx(v):
            return x0 + (math.log(v / xlog[0]) / math.log(xlog[1] / xlog[0])) * w

        def sy(v):
            if ylog:
                return y0 + h - (math.log(v / ylog[0]) / math.log(ylog[1] / ylog[0])) * h
            return y0 + h - (v - yticks[0]) / (yticks[-1] - yticks[0]) * h

        out.append(f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#444"/>')
        out.append(f'<text x="{x0 + w / 2}" y="{y0 - 12}" text-anchor="middle" font-size="14">{title}</text>')
        for v in xticks:
            x = sx(v)
            out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + h}" stroke="#ddd"/>')
            out.append(f'<text x="{x:.1f}" y="{y0 + h + 16}" text-anchor="middle">{xfmt(v)}</text>')
        for v in yticks:
            y = sy(v)
            out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{yfmt(v)}</text>')
        out.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 36}" text-anchor="middle">{xlabel}</text>')
        out.append(f'<text transform="translate({x0 - 52},{y0 + h / 2}) rotate(-90)" text-anchor="middle">{ylabel}</text>')
        return sx, sy

    # Left: measured allreduce time vs message size, with the fitted model.
    sizes = [2 ** k for k in range(10, 25)]
    sx, sy = panel(90, 50, 380, 330, (2 ** 10, 2 ** 24), (1e-4, 10), [2 ** 10, 2 ** 14, 2 ** 18, 2 ** 22, 2 ** 24],
                   [1e-4, 1e-3, 1e-2, 1e-1, 1, 10], "message (bytes)", "seconds per allreduce",
                   "Measured allreduce (points), ring fit >= 256 KiB (lines)",
                   lambda v: {2 ** 10: "1 Ki", 2 ** 14: "16 Ki", 2 ** 18: "256 Ki", 2 ** 22: "4 Mi", 2 ** 24: "16 Mi"}[v],
                   lambda v: f"{v:g}")
    legend_y = 66
    for index, ((rate, label, p), pts) in enumerate(sorted(groups.items(), key=lambda g: (parse_rate(g[0][0]), g[0][1], g[0][2]))):
        color = colors[index % len(colors)]
        alpha, beta = fits[(rate, label, p)]
        line = " ".join(f"{sx(n):.1f},{sy(max(ring_time(p, n, alpha, beta), 1e-4)):.1f}"
                        for n in sizes if n >= FIT_MIN_BYTES)
        out.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        for n, t in pts:
            if 2 ** 10 <= n <= 2 ** 24 and 1e-4 <= t <= 10:
                out.append(f'<circle cx="{sx(n):.1f}" cy="{sy(t):.1f}" r="3.5" fill="{color}"/>')
        out.append(f'<circle cx="110" cy="{legend_y}" r="3.5" fill="{color}"/>')
        out.append(f'<text x="120" y="{legend_y + 4}">P = {p}, {rate} links, {label}</text>')
        legend_y += 16

    # Right: predicted scaling efficiency vs nodes.
    sx, sy = panel(600, 50, 400, 330, (2, 256), None, NODES, [0, 0.2, 0.4, 0.6, 0.8, 1.0],
                   "nodes (one rank each)", "scaling efficiency t_compute / t_step",
                   "Predicted: ring allreduce after each step", lambda v: str(v), lambda v: f"{v:.1f}")
    legend_y = 300
    for index, ((model, link), series) in enumerate(sorted(predictions.items())):
        color = colors[list(MODELS).index(model) % len(colors)]
        dash = "" if link == 100 else ' stroke-dasharray="6,4"'
        line = " ".join(f"{sx(p):.1f},{sy(e):.1f}" for p, _, _, e, _ in series)
        out.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        overlapped = " ".join(f"{sx(p):.1f},{sy(on):.1f}" for p, _, _, _, on in series)
        out.append(f'<polyline points="{overlapped}" fill="none" stroke="{color}" stroke-width="6" stroke-opacity="0.25"{dash}/>')
        for p, _, _, e, _ in series:
            out.append(f'<circle cx="{sx(p):.1f}" cy="{sy(e):.1f}" r="2.5" fill="{color}"/>')
        out.append(f'<line x1="615" y1="{legend_y}" x2="645" y2="{legend_y}" stroke="{color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="652" y="{legend_y + 4}">{model}, {link} Gbit/s</text>')
        legend_y += 16
    out.append(f'<line x1="615" y1="{legend_y}" x2="645" y2="{legend_y}" stroke="#444" stroke-width="6" stroke-opacity="0.25"/>')
    out.append(f'<text x="652" y="{legend_y + 4}">wide, pale: with overlap ({BUCKET_BYTES // 2 ** 20} MiB buckets)</text>')
    note = ("compute per step ASSUMED (see docs/scaling.md)" if not COMPUTE_IS_MEASURED
            else "compute per step measured on this 2-vCPU machine (bench model, batch 32 x 128)")
    out.append(f'<text x="600" y="{height - 30}" fill="#555">{note}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    paths = sys.argv[1:] or sorted(glob.glob(os.path.join(HERE, "allreduce-*.json")))
    if not paths:
        sys.exit("model.py: no measurements (run scripts/measure-allreduce-netns.sh first)")
    points = load(paths)
    groups, fits = {}, {}
    for rate, delay, p, n, t in points:
        groups.setdefault((rate, delay, p), []).append((n, t))
    for (rate, label, p), pts in sorted(groups.items(), key=lambda g: (parse_rate(g[0][0]), g[0][1], g[0][2])):
        subset = [(rate, label, p, n, t) for n, t in pts]
        alpha, beta = fit(subset)
        fits[(rate, label, p)] = (alpha, beta)
        print(f"fit {rate}, {label}, P={p}: beta = {beta * 8 / 1e6:.0f} Mbit/s = {beta / parse_rate(rate):.0%} of the "
              f"shaped rate, alpha = {alpha * 1e6:.0f} us (messages >= {FIT_MIN_BYTES // 1024} KiB)")
        for _, _, _, n, t in subset:
            if n >= FIT_MIN_BYTES:
                model = ring_time(p, n, alpha, beta)
                print(f"    {n:>9} B: measured {t * 1e3:8.2f} ms, fit {model * 1e3:8.2f} ms ({(model - t) / t:+.0%})")

    # The cluster model takes beta as a fraction of the link rate from the ring run on 3 hosts
    # (each rank sends to one neighbour and receives from the other, as on 4..256 nodes) at the
    # slowest shaped rate (link-bound; at faster rates the harness is bound by the shared CPU).
    candidates = [k for k in fits if k[1] == "ring" and k[2] >= 3] or list(fits)
    rate, label, p = min(candidates, key=lambda k: (parse_rate(k[0]), -k[2]))
    _, beta = fits[(rate, label, p)]
    efficiency = beta / parse_rate(rate)
    alpha = ALPHA_SECONDS
    print(f"\ncluster model: alpha = {alpha * 1e6:.0f} us per ring step (assumed), beta = {efficiency:.0%} of the link"
          f" rate (measured: {rate}, {label}, P={p}); compute per step {'measured' if COMPUTE_IS_MEASURED else 'ASSUMED'}")
    def predict(speedup):
        predictions = {}
        for model, params in MODELS.items():
            n = 4 * params
            compute = COMPUTE_SECONDS[model] / speedup
            for link in LINKS_GBIT:
                b = efficiency * link * 1e9 / 8
                series = []
                for p in NODES:
                    comm = ring_time(p, n, alpha, b)
                    step_on, _ = overlapped_step(compute, STRUCTURE[model], BUCKET_BYTES,
                                                 lambda nbytes: ring_time(p, nbytes, alpha, b))
                    series.append((p, comm, compute + comm, compute / (compute + comm), compute / step_on))
                predictions[(model, link)] = series
        return predictions

    for speedup in NODE_SPEEDUPS:
        which = "measured compute per step" if speedup == 1 else f"compute per step / {speedup} (a {speedup}x faster node)"
        print(f"\nAllreduce time per step / scaling efficiency without overlap / with overlap "
              f"({BUCKET_BYTES // 2 ** 20} MiB buckets), {which}:")
        print("\n| model | link | " + " | ".join(f"P={p}" for p in NODES) + " |")
        print("|---|---|" + "---|" * len(NODES))
        for (model, link), series in sorted(predict(speedup).items()):
            cells = " | ".join(f"{c:.3f} s / {e:.0%} / {on:.0%}" for _, c, _, e, on in series)
            print(f"| {model} | {link} Gbit/s | {cells} |")
    for path in sorted(glob.glob(os.path.join(HERE, "overlap-*.json"))):
        with open(path) as f:
            m = json.load(f)
        per_byte = m["allreduce_s"] / m["gradient_bytes"]
        bucket = m["bucket_mb"] * 2 ** 20
        step_on, _ = overlapped_step(m["compute_s"], STRUCTURE["MiniLM-L6 (22.7M)"], bucket, lambda nbytes: nbytes * per_byte)
        predicted = (m["compute_s"] + m["allreduce_s"] - step_on) / m["allreduce_s"]
        print(f"\noverlap, {os.path.basename(path)}: {m['hosts']} hosts, {m['rate_mbit']} Mbit/s, {m['bucket_mb']:g} MiB buckets:"
              f" compute {m['compute_s']:.3f} s, allreduce {m['allreduce_s']:.3f} s, step off {m['step_off_s']:.3f} s,"
              f" on {m['step_on_s']:.3f} s; hidden {m['hidden_fraction']:.0%} measured, {predicted:.0%} by the model")
    predictions = predict(1)
    svg_plot(os.path.join(HERE, "scaling.svg"), groups, fits, predictions)
    print(f"\nwrote {os.path.join(HERE, 'scaling.svg')}")


if __name__ == "__main__":
    main()
