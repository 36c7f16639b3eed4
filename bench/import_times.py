"""What a fresh Python process in the TFX environment pays before any work: the wall time of
each import the node runner needs, each in a process of its own (nothing cached in memory but
what the OS keeps), `--repeats` times in turn, the median reported. This is the cost that
`executor=process` pays on every node task and that the warm executor pays once per DAG run.

    .venv/tfx/bin/python bench/import_times.py [--repeats 3] [--out bench/import_times.json]

Run it with nothing else busy on the machine. Prints a Markdown table; `--modules json csv`
is the smoke test's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import stamp  # noqa: E402

OUT = Path(__file__).resolve().parent / "import_times.json"
# The heavy imports of a node task.
MODULES = (
    "tensorflow",
    "tensorflow_data_validation",
    "tensorflow_model_analysis",
    "tfx.components",
    "tfx.orchestration.portable.launcher",
)
PROBE = (
    "import importlib, time; t = time.perf_counter(); importlib.import_module({name!r}); "
    "print(time.perf_counter() - t)"
)


def import_seconds(name: str) -> float:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(name=name)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="+", default=list(MODULES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {m: [] for m in args.modules}
    for _ in range(args.repeats):  # in turn, so a slow spell of the machine hits every module
        for name in args.modules:
            seconds[name].append(round(import_seconds(name), 2))
    result = {
        **stamp(),
        "python": sys.executable,
        "seconds": seconds,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print("| import | median s | runs |")
    print("|---|---:|---|")
    for name, runs in seconds.items():
        print(f"| `{name}` | {statistics.median(runs):.1f} | {', '.join(map(str, runs))} |")


if __name__ == "__main__":
    main()
