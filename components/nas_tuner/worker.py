"""Parallel trials, as the pipeline runs them: the one entry point of the node runner into a
parallel search.

- `run`: a worker, in the pipeline environment (`python -m pipelines.run_node --node Tuner
  --worker I`, an Airflow mapped task). It waits for the Tuner node's chief to announce itself,
  rebuilds the same data from the Transform outputs it names, and runs trials until the chief
  has none left.
- `release`: called when the Tuner node ends, however it ends (done, cached or failed), so that
  workers still waiting for a chief stop waiting.

Where a search keeps its state and where its chief announces itself (`state_dir`,
`rendezvous_dir`) is decided here too, for the executor and the workers alike.
"""

from __future__ import annotations

import os

from core import names


def state_dir(state_root: str, run_id: str, node_id: str) -> str:
    """The search's resumable state for one pipeline run and node."""
    return os.path.join(state_root, names.run_folder(run_id), node_id)


def rendezvous_dir(state_root: str, run_id: str, node_id: str) -> str:
    """Where a parallel search's chief announces itself to its workers (outside the state
    directory, which is removed when the search succeeds)."""
    return state_dir(os.path.join(state_root, "_rendezvous"), run_id, node_id)


def release(state_root: str, run_id: str, node_id: str) -> None:
    """Workers still waiting for this node's chief stop waiting (the node has ended)."""
    from nas import distributed

    distributed.mark_done(rendezvous_dir(state_root, run_id, node_id))


def run(state_root: str, run_id: str, node_id: str, index: int, wait_s: float = 600) -> dict:
    """Worker `index` of the node's parallel search; {"trials": how many it ran}."""
    from nas.search import run_worker

    rendezvous = rendezvous_dir(state_root, run_id, node_id)
    state = state_dir(state_root, run_id, node_id)

    def inputs(chief: dict):
        """The search's config, data and tracker, rebuilt from the chief's announcement."""
        from tfx.utils import json_utils

        from components.nas_tuner import tf_engine, tfx_io
        from nas.config import SearchConfig
        from nas.search import WorkerInputs

        tf_engine.install()
        config = SearchConfig.from_json(chief["search_config"])
        spec, data = tfx_io.search_inputs(
            json_utils.loads(chief["examples"]),
            chief["transform_graph"],
            chief["label"],
            config,
            chief["plan"],
            state,
        )
        tracker = None
        if chief.get("tracking_uri") and os.path.exists(state):
            from components.nas_tuner.tracking import Tracker

            # The chief's search run: its id is in the shared state directory.
            tracker = Tracker(
                chief["tracking_uri"],
                chief["experiment"],
                state,
                run_name=f"nas-{run_id}",
                artifact_location=chief.get("artifact_location") or "",
            )
        return WorkerInputs(config, spec, data, tracker)

    _log(f"NAS worker {index} of the {node_id} node of pipeline run {run_id}")
    return {"trials": run_worker(rendezvous, index, state, inputs, wait_s=wait_s, log=_log)}


def _log(line: str) -> None:
    print(line, flush=True)  # the node's log, unbuffered
