"""The NAS benchmark's tables (table.md, quoted by RESULTS.md) and curves.png, from results.json:
medians, then every seed (the share of Hyperband's compute each method, Hyperband included,
needed to first reach Hyperband's best validation score, and the test accuracy), Kendall tau per
low fidelity and the learning-curve stop's false-stop rate."""

from __future__ import annotations

import math
import os
import statistics

med = statistics.median


def reach(curve, target):
    """Compute at which the best-so-far score first reaches `target` (None: never)."""
    return next((c for c, s in curve if s >= target - 1e-9), None)


def _share(run, hb) -> float:
    c = reach(run["curve"], hb["best_val"])
    return c / hb["compute"] if c is not None else math.inf


def _pct(v) -> str:
    return "never" if math.isinf(v) else f"{v:.0%}"


def tables(results: list[dict]) -> list[str]:
    lines = []
    runs_all = [r for r in results if "method" in r and "curve" in r]
    for ds in sorted({r["dataset"] for r in runs_all}):
        runs = [r for r in runs_all if r["dataset"] == ds]
        seeds = sorted({r["seed"] for r in runs})
        hb = {r["seed"]: r for r in runs if r["method"] == "kt-hyperband"}
        methods = list(dict.fromkeys(r["method"] for r in runs))
        lines += [
            f"### {ds}: medians over seeds {', '.join(map(str, seeds))}",
            "",
            "| method | trials | compute | wall s | best val | test acc | share of Hyperband's "
            "compute to reach its best (median) | seeds that reached it |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for m in methods:
            rs = [r for r in runs if r["method"] == m and r["seed"] in hb]
            shares = [_share(r, hb[r["seed"]]) for r in rs]
            lines.append(
                f"| {m} | {med(r['trials'] for r in rs):.0f} | "
                f"{med(r['compute'] for r in rs):,.0f} | {med(r['wall_s'] for r in rs):.1f} | "
                f"{med(r['best_val'] for r in rs):.4f} | {med(r['test_acc'] for r in rs):.4f} | "
                f"{_pct(med(shares))} | {sum(not math.isinf(s) for s in shares)}/{len(rs)} |"
            )
        per_seed = {
            "share of Hyperband's compute to first reach Hyperband's best validation score": (
                lambda r, hb=hb: _pct(_share(r, hb[r["seed"]]))
            ),
            "test accuracy of the chosen architecture, retrained": (
                lambda r: f"{r['test_acc']:.4f}"
            ),
        }
        for title, cell in per_seed.items():
            lines += ["", f"{ds}, every seed: {title}", ""]
            lines += ["| method | " + " | ".join(map(str, seeds)) + " |"]
            lines += ["|---|" + "---:|" * len(seeds)]
            for m in methods:
                by_seed = {r["seed"]: r for r in runs if r["method"] == m}
                lines.append(
                    f"| {m} | "
                    + " | ".join(cell(by_seed[s]) if s in by_seed else "-" for s in seeds)
                    + " |"
                )
        lines.append("")
    for r in (r for r in results if r.get("method") == "rank_study"):
        n = len(r["full"])
        lines += [
            f"### {r['dataset']}: Kendall tau, low against full fidelity ({n} architectures, "
            f"seed {r['seed']})",
            "",
            "| low fidelity | tau |",
            "|---|---:|",
            *(f"| {k} | {v:.3f} |" for k, v in r["tau"].items()),
            "",
            "Learning-curve stop replayed on the full curves (false: the stopped trial would "
            "have ended above the best it was judged against):",
            "",
            "| curve_min_trials | judged | stopped | false stops | false-stop rate |",
            "|---:|---:|---:|---:|---:|",
            *(
                f"| {f['min_trials']} | {f['judged']} | {f['stopped']} | {f['false']} | "
                f"{f['false_rate']:.0%} |"
                for f in r["false_stops"]
            ),
            "",
        ]
    return lines


def plot(results: list[dict], out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in results if "curve" in r]
    datasets = sorted({r["dataset"] for r in runs})
    if not datasets:
        return
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    methods = list(dict.fromkeys(r["method"] for r in runs))
    for ax, ds in zip(axes[0], datasets, strict=True):
        for i, m in enumerate(methods):
            for j, r in enumerate(x for x in runs if x["dataset"] == ds and x["method"] == m):
                xs, ys = zip(*r["curve"], strict=True) if r["curve"] else ((), ())
                ax.step(xs, ys, where="post", alpha=0.6, color=f"C{i}", label=m if not j else None)
        ax.set_title(f"{ds}: best validation accuracy so far")
        ax.set_xlabel("compute (example-epochs)")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "curves.png"), dpi=100)


def write(results: list[dict], out: str) -> str:
    text = "\n".join(tables(results)) + "\n"
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text)
    plot(results, out)
    return text
