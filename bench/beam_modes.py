"""The data nodes under Beam's in-memory DirectRunner against its multi-process mode (the
compose stack's default `RETRAIN_BEAM_ARGS`): the table behind the README's Beam paragraph.

For each `beam_pipeline_args`, on the bundled penguins and a fresh ML Metadata store, the
pipeline's nodes up to Transform run one by one through the node runner
(`pipelines.run_node.run_node`) in one fresh process per pass, as a DAG's tasks would; each
node is timed. Every pass pays the imports the same way (the first node that uses TensorFlow
or Beam pays them); the modes alternate over `--repeats`.

    .venv/tfx/bin/python bench/beam_modes.py [--repeats 1] [--modes in-memory multi-process]

Run it with nothing else busy on the machine. Writes bench/beam_modes.json and prints the
Markdown table that bench/RESULTS.md quotes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

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


def one_pass(args: tuple, run: str, last: str) -> dict[str, float]:
    state = Path(tempfile.mkdtemp(prefix="bench-beam-"))
    settings = Settings(
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
    for mode, passes in rows.items():
        cells = {n: statistics.median(p[n] for p in passes) for n in nodes}
        beam = sum(v for n, v in cells.items() if n in BEAM_NODES)
        cols = " | ".join(f"{c:.1f}" for c in cells.values())
        lines.append(f"| {MODES[mode][0]} | {cols} | {beam:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--last", default="Transform", help="the last node to run")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--one", choices=list(MODES), help=argparse.SUPPRESS)
    cli = parser.parse_args()
    rows = {mode: [] for mode in cli.modes}
    if cli.one:  # one pass in this process: its seconds as the last line
        print(json.dumps(one_pass(MODES[cli.one][1], f"beam-{cli.one}", cli.last)))
        return
    for i in range(cli.repeats):
        order = list(rows) if i % 2 == 0 else list(reversed(rows))
        for mode in order:
            cmd = [sys.executable, __file__, "--one", mode, "--last", cli.last]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode:
                sys.exit(f"the {mode} pass failed:\n{done.stderr[-3000:]}")
            rows[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{mode} pass {len(rows[mode])}: {rows[mode][-1]}", flush=True)
    result = {
        "date": str(datetime.date.today()),
        "machine": f"{platform.node()} ({os.cpu_count()} cores)",
        "command": " ".join(["bench/beam_modes.py", *sys.argv[1:]]),
        "seconds": rows,
    }
    Path(cli.out).write_text(json.dumps(result, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
