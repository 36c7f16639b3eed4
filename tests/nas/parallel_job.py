"""One runner of a parallel search in its own process:
`python -m tests.nas.parallel_job chief STATE RENDEZVOUS OUT WORKERS` or
`python -m tests.nas.parallel_job worker STATE RENDEZVOUS OUT INDEX`.
The chief writes OUT/chief.json (best trial and rows); a worker OUT/worker-INDEX.json."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nas.config import SearchConfig  # noqa: E402
from nas.data import ArrayData  # noqa: E402
from nas.inputs import from_arrays  # noqa: E402
from nas.search import WorkerInputs, run_search, run_worker  # noqa: E402
from tests.nas.conftest import AS_WRITTEN, load_digits  # noqa: E402

CONFIG = {
    **AS_WRITTEN,
    "space": "chain",
    "strategy": "random",
    "max_trials": 6,
    "epochs": 2,
    "seed": 5,
}


def main(role: str, state: str, rendezvous: str, out: str, n: int) -> None:
    x, y = load_digits()
    spec = from_arrays({"pixels": x}, 10, overrides={"pixels": {"shape": [8, 8]}})
    data = ArrayData(({"pixels": x[:600]}, y[:600]), ({"pixels": x[600:800]}, y[600:800]))
    log = lambda line: print(line, flush=True)  # noqa: E731
    os.makedirs(out, exist_ok=True)
    if role == "chief":
        config = SearchConfig.from_dict({**CONFIG, "parallel_trials": n, "worker_wait_s": 300})
        result = run_search(config, spec, data, state, log=log, rendezvous=rendezvous)
        summary = {
            "best_trial": result.best_trial_id,
            "rows": result.rows,
            "weights": os.path.exists(result.weights_path),
        }
        name = "chief.json"
    else:

        def inputs(_chief: dict) -> WorkerInputs:
            return WorkerInputs(SearchConfig.from_dict(CONFIG), spec, data)

        summary = {"ran": run_worker(rendezvous, n, state, inputs, wait_s=300, log=log)}
        name = f"worker-{n}.json"
    with open(os.path.join(out, name), "w") as f:
        json.dump(summary, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
