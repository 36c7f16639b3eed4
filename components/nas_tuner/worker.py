"""A worker of a parallel search, in the pipeline environment: waits for the Tuner node's
chief to announce itself, rebuilds the same data from the Transform outputs it names, and runs
trials until the chief has none left. `python -m pipelines.run_node --node Tuner --worker I`
(an Airflow mapped task) calls `run`."""

from __future__ import annotations

import os


def run(state_root: str, run_id: str, node_id: str, index: int, wait_s: float = 600) -> dict:
    from components.nas_tuner.executor import rendezvous_dir, state_dir
    from nas import distributed

    rendezvous = rendezvous_dir(state_root, run_id, node_id)
    print(f"NAS worker {index}: waiting for the {node_id} chief in {rendezvous}", flush=True)
    chief = distributed.wait_for_chief(rendezvous, wait_s)
    if chief is None:
        print(f"NAS worker {index}: the search is already over (or was cached)", flush=True)
        return {"trials": 0}

    from tfx.utils import json_utils

    from components.nas_tuner import tfx_io
    from nas.config import SearchConfig
    from nas.search import run_worker

    config = SearchConfig.from_json(chief["search_config"])
    spec, data = tfx_io.search_inputs(
        json_utils.loads(chief["examples"]), chief["transform_graph"], chief["label"], config,
        chief["train_steps"], chief["eval_steps"],
    )  # fmt: skip
    state = state_dir(state_root, run_id, node_id)
    tracker = None
    if chief.get("tracking_uri") and os.path.exists(state):
        from components.nas_tuner.tracking import Tracker

        # The chief's search run: its id is in the shared state directory.
        tracker = Tracker(
            chief["tracking_uri"],
            chief["experiment"],
            state,
            run_name=f"nas-{run_id}",
            artifact_location=chief.get("artifact_location") or None,
        )
    ran = run_worker(config, spec, data, state, rendezvous, index, chief, tracker=tracker)
    return {"trials": ran}
