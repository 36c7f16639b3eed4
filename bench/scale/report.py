"""bench/scale/RESULTS.md from bench/scale/results.json (bench/scale/run.py writes both)."""

from __future__ import annotations

NODES = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Tuner")
NODES += ("Trainer", "Evaluator", "Pusher")


def _fmt(value, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def _int(value):
    return None if value is None else int(value)


def _trial_rows(result: dict) -> str:
    """The rows a trial's epoch saw: min and max over the trials that trained."""
    seen = [t["rows_per_epoch"] for t in result.get("trials") or [] if t.get("rows_per_epoch")]
    if not seen:
        return "-"
    low, high = min(seen), max(seen)
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


def markdown(results: dict) -> str:
    sizes = sorted(results.get("sizes", {}).values(), key=lambda r: r["rows"])
    lines = [
        "# Learning that follows the data: 20k to 2M rows",
        "",
        f"Latest run {results.get('date')} on {results.get('machine')}: "
        f"`.venv/tfx/bin/python {results.get('command')}`; each size's own date, commit, "
        "command and machine load are in the notes.",
        "",
        "One generated table (bench/scale/data.py: three classes from a random teacher network, "
        "so more rows keep helping) through `make run DATA=... LABEL=label` with a search time "
        "budget; accuracy is on 50,000 fresh rows from the generator (another seed), for the "
        "version the run registered (its pyfunc) and for two scikit-learn references fitted on "
        "the same rows.",
        "",
        "| rows | whole run | trials | rows a trial's epoch saw | rows the Trainer's epoch "
        "saw | champion | MLPClassifier | HistGradientBoosting | majority class |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sizes:
        metrics = r.get("metrics") or {}
        refs = r.get("references") or {}
        trials = [t for t in r.get("trials") or [] if t.get("status") == "completed"]
        trainer = metrics.get("trainer_rows_per_epoch_min")
        train_rows = metrics.get("trainer_train_rows")
        lines.append(
            f"| {r['rows']:,} | {r['wall_s']:.0f} s{'' if r.get('ok') else ' (failed)'} | "
            f"{len(trials)} | {_trial_rows(r)} | {_fmt(trainer and int(trainer), ',')} "
            f"(of {_fmt(train_rows and int(train_rows), ',')}) | "
            f"{_fmt(r.get('champion_accuracy'), '.4f')} | "
            f"{_fmt((refs.get('mlp') or {}).get('accuracy'), '.4f')} | "
            f"{_fmt((refs.get('hgb') or {}).get('accuracy'), '.4f')} | "
            f"{_fmt(r.get('majority'), '.4f')} |"
        )
    lines += [
        "",
        "## Each node: wall time (s) and peak resident memory (MiB)",
        "",
        "| rows | " + " | ".join(NODES) + " |",
        "|---|" + "---|" * len(NODES),
    ]
    for r in sizes:
        cells = []
        for node in NODES:
            seconds = (r.get("nodes_s") or {}).get(node)
            rss = (r.get("peak_rss_mb") or {}).get(node)
            cells.append(f"{_fmt(seconds, '.0f')} s / {_fmt(rss, '.0f')}")
        lines.append(f"| {r['rows']:,} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "A node's peak memory is its process's (a warm executor's child counts the imports it "
        "inherited, about 1 GiB of TensorFlow, TFX and Beam). The references' fit times: "
        + ", ".join(
            f"{r['rows']:,} rows: MLP {r['references']['mlp']['fit_s']} s, "
            f"HGB {r['references']['hgb']['fit_s']} s"
            for r in sizes
            if r.get("references")
        )
        + ".",
        "",
    ]
    notes = list(results.get("notes") or [])
    for r in sizes:
        m = r.get("measured")
        if m:
            load = m["load_1min"]
            notes.append(
                f"{r['rows']:,} rows measured {m['started']} to {m['ended']} at commit "
                f"{m['commit']} with `{m['command']}`; `uptime` 1-minute load {load['min']:.1f} "
                f"to {load['max']:.1f} (mean {load['mean']:.1f}, {load['n']} samples); the "
                f"Trainer ran {_fmt(_int((r.get('metrics') or {}).get('trainer_epochs_run')))} "
                f"of {_fmt(_int((r.get('metrics') or {}).get('trainer_epochs_planned')))} "
                "planned epochs"
            )
    notes += [f"{r['rows']:,} rows: {r['note']}" for r in sizes if r.get("note")]
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines)
