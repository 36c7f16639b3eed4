"""RESULTS.md of the vision benchmark, from its results.json: one table per set, every seed and
the median, and the margin of our champion over the better peer."""

from __future__ import annotations

import statistics

from bench.common import stamp

METHODS = (("ours", "ours"), ("hyperband", "Hyperband"), ("hand_cnn", "hand CNN"))


def _f(v, digits=3):
    return "-" if v is None else f"{v:.{digits}f}"


def markdown(results: dict, command: str) -> str:
    s = results.get("settings", {})
    out = [
        "# Vision and signal benchmark",
        "",
        f"Written {stamp()['date']} by `bench/vision/run.py` (`{command}`); every "
        "number below is in results.json.",
        "",
        f"Test accuracy on the held-out test split (never seen by a search, a selection or a "
        f"Trainer). Our search's time budget: {s.get('minutes')} min; Hyperband stops at the "
        f"wall clock our search took; every final model trains {s.get('epochs')} epochs "
        f"(batch {s.get('batch')}) after its search (the Trainer's step), the hand CNN "
        "trains once for as many. See run.py for the procedure.",
        "",
    ]
    for name in sorted({r["set"] for r in results["runs"]}):
        runs = sorted((r for r in results["runs"] if r["set"] == name), key=lambda r: r["seed"])
        out += [
            f"## {name}",
            "",
            "| seed | ours | Hyperband | hand CNN | linear | ours - best peer | ours: trials "
            "(curve-stopped), search + trainer s | Hyperband: trials, search + trainer s | "
            "ours: winner (val mean +- std) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        margins = []
        for r in runs:
            o, h = r["ours"], r["hyperband"]
            margin = o["test"] - max(h["test"], r["hand_cnn"]["test"])
            margins.append(margin)
            out.append(
                f"| {r['seed']} | {_f(o['test'])} | {_f(h['test'])} | "
                f"{_f(r['hand_cnn']['test'])} | {_f(r['linear']['test'])} | {margin:+.3f} | "
                f"{o['trials']} ({o['curve_stopped']}), {o['search_s']:.0f} + "
                f"{o['trainer_s']:.0f} | {h['trials']}, {h['search_s']:.0f} + "
                f"{h['trainer_s']:.0f} | {o['summary']} ({o['params']:,} parameters; "
                f"{_f(o['val_mean'])} +- {_f(o['val_std'])}) |"
            )
        medians = [statistics.median(r[key]["test"] for r in runs) for key in ("ours", "hyperband")]
        hand = statistics.median(r["hand_cnn"]["test"] for r in runs)
        lin = statistics.median(r["linear"]["test"] for r in runs)
        out += [
            f"| **median** | **{_f(medians[0])}** | {_f(medians[1])} | {_f(hand)} | {_f(lin)} | "
            f"{statistics.median(margins):+.3f} | | | |",
            "",
        ]
        beaten = sum(1 for m in margins if m > 0)
        out += [
            f"Our champion beats both peers on {beaten} of {len(runs)} seeds"
            + (
                "."
                if beaten == len(runs)
                else f"; where it does not, by {min(margins):+.3f} at worst (see the table)."
            ),
            "",
            "Before the Trainer's step (the weights the search left): ours "
            + ", ".join(_f(r["ours"]["test_search_weights"]) for r in runs)
            + "; Hyperband "
            + ", ".join(_f(r["hyperband"]["test_search_weights"]) for r in runs)
            + ".",
            "",
        ]
    return "\n".join(out)
