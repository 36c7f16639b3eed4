"""The data nodes under Beam's in-memory DirectRunner against its multi-process mode (the
compose stack's default `RETRAIN_BEAM_ARGS`): the table behind docs/production.md's Beam.

For each `beam_pipeline_args`, on the bundled penguins (or, with `--rows N`, a generated table of
N rows from bench/scale/data.py) and a fresh ML Metadata store, the
pipeline's nodes up to Transform run one by one through the node runner
(`pipelines.run_node.run_node`) in one fresh process per pass, as a DAG's tasks would; each
node is timed. Every pass pays the imports the same way (the first node that uses TensorFlow
or Beam pays them); the modes alternate over `--repeats`.

    .venv/tfx/bin/python bench/beam_modes.py [--repeats 1] [--modes in-memory multi-process]
        [--rows 2000000 --out bench/scale/beam-2000000.json]

Run it with nothing else busy on the machine. Writes bench/beam_modes.json and prints the
Markdown table that bench/RESULTS.md quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import commit, stamp  # noqa: E402
from pipelines.run_node import compile_pipeline, run_node  # noqa: E402
from pipelines.settings import Settings  # noqa: E402

OUT = REPO / "bench" / "beam_modes.json"
# name: (the table's label, beam_pipeline_args)
MODES = {
    "in-memory": ("none (in-memory DirectRunner; `make run`, tests)", ()),
    "multi-process": (
        "`--direct_running_mode=multi_processing --direct_num_workers=0` (compose default)",
        ("--direct_running_mode=multi_processing", "--direct_num_workers=0"),
    ),
}
BEAM_NODES = ("ExampleGen", "StatisticsGen", "Transform")


def one_pass(args: tuple, run: str, last: str, data: str = "") -> dict[str, float]:
    state = Path(tempfile.mkdtemp(prefix="bench-beam-"))
    where = {"data": data, "label": "label"} if data else {}
    settings = Settings(
        **where,
        pipeline_root=str(state / "pipeline_root"),
        metadata_path=str(state / "metadata.sqlite"),
        mlflow_tracking_uri=f"sqlite:///{state / 'mlflow.db'}",
        beam_pipeline_args=args,
    )
    nodes = [n.pipeline_node.node_info.id for n in compile_pipeline(settings).nodes]
    seconds = {}
    for node in nodes[: nodes.index(last) + 1]:
        t0 = time.monotonic()
        result = run_node(settings, run, node)
        seconds[node] = round(time.monotonic() - t0, 2)
        print(f"{run} {node}: {seconds[node]:.1f} s {result.get('status', '')}", file=sys.stderr)
    return seconds


def table(rows: dict[str, list[dict]]) -> str:
    """Median seconds per node (every node run), and the Beam nodes' total."""
    first = next(iter(rows.values()))[0]
    nodes = [n for n in first if all(n in p for passes in rows.values() for p in passes)]
    lines = [
        "| beam_pipeline_args | " + " | ".join(nodes) + " | Beam nodes |",
        "|---|" + "---:|" * (len(nodes) + 1),
    ]
    totals = {}
    for mode, passes in rows.items():
        cells = {n: statistics.median(p[n] for p in passes) for n in nodes}
        beam = sum(v for n, v in cells.items() if n in BEAM_NODES)
        cols = " | ".join(f"{c:.1f}" for c in cells.values())
        lines.append(f"| {MODES[mode][0]} | {cols} | {beam:.1f} |")
        totals[mode] = beam
    if len(totals) == 2:
        ratio = totals["multi-process"] / max(totals["in-memory"], 1e-9)
        lines += ["", f"Beam nodes, multi-process / in-memory: {ratio:.2f}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--last", default="Transform", help="the last node to run")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--rows", type=int, default=0, help="a generated table of this many rows")
    parser.add_argument("--data", default="", help=argparse.SUPPRESS)
    parser.add_argument("--one", choices=list(MODES), help=argparse.SUPPRESS)
    cli = parser.parse_args()
    if cli.rows and not cli.data:
        from bench.scale import data as tables

        folder = Path(tempfile.mkdtemp(prefix="bench-beam-data-")) / "table"
        cli.data = tables.write_csv(
            str(folder), cli.rows, seed=1, shards=max(1, cli.rows // 250_000)
        )
    rows = {mode: [] for mode in cli.modes}
    load = {mode: [] for mode in cli.modes}  # uptime's 1-minute load before and after a pass
    if cli.one:  # one pass in this process: its seconds as the last line
        seconds = one_pass(MODES[cli.one][1], f"beam-{cli.one}", cli.last, cli.data)
        print(json.dumps(seconds))
        return
    for i in range(cli.repeats):
        order = list(rows) if i % 2 == 0 else list(reversed(rows))
        for mode in order:
            cmd = [sys.executable, __file__, "--one", mode, "--last", cli.last, "--data", cli.data]
            before = (time.strftime("%H:%M:%S", time.gmtime()), os.getloadavg()[0])
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            load[mode].append([*before, time.strftime("%H:%M:%S", time.gmtime())])
            load[mode][-1].append(os.getloadavg()[0])
            if done.returncode:
                sys.exit(f"the {mode} pass failed:\n{done.stderr[-3000:]}")
            rows[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{mode} pass {len(rows[mode])}: {rows[mode][-1]}", flush=True)
    result = {
        **stamp(),
        "command": " ".join(["bench/beam_modes.py", *sys.argv[1:]]),
        "rows": cli.rows or "penguins (344)",
        "commit": commit(),
        "seconds": rows,
        "load_1min": load,  # per pass: [UTC start, load, UTC end, load]
    }
    Path(cli.out).write_text(json.dumps(result, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
