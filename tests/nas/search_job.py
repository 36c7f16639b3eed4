"""A search in its own process, for the kill test: `python -m tests.nas.search_job STATE OUT`.
Writes OUT/result.json (best architecture, best score, rows) when it finishes."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from nas.config import SearchConfig  # noqa: E402
from nas.data import ArrayData  # noqa: E402
from nas.inputs import from_arrays  # noqa: E402
from nas.search import run_search  # noqa: E402
from tests.nas.conftest import AS_WRITTEN  # noqa: E402

CONFIG = {
    **AS_WRITTEN,
    "space": "chain",
    "strategy": "random",
    "max_trials": 4,
    "epochs": 6,
    "seed": 11,
    "batch_size": 32,
}


def main(state: str, out: str) -> None:
    d = load_digits()
    x, y = (d.data / 16.0).astype("float32"), d.target.astype("int64")
    idx = np.random.default_rng(0).permutation(len(y))
    x, y = x[idx], y[idx]
    spec = from_arrays({"pixels": x}, 10, overrides={"pixels": {"shape": [8, 8]}})
    data = ArrayData(({"pixels": x[:1200]}, y[:1200]), ({"pixels": x[1200:]}, y[1200:]))
    result = run_search(
        SearchConfig.from_dict(CONFIG), spec, data, state, log=lambda line: print(line, flush=True)
    )
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "result.json"), "w") as f:
        summary = {
            "architecture": result.architecture.to_json(),
            "score": result.best_score,
            "best_trial": result.best_trial_id,
            "rows": result.rows,
        }
        json.dump(summary, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
