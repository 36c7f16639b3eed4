"""MLflow logging of a search: one parent run, one nested run per trial.

Uses MlflowClient (no global active run), so it is safe in forked node processes. The parent
run id is kept in the search's state directory, and a trial's nested run is found again by its
`nas.trial_id` tag, so a resumed search logs into the same runs instead of duplicating them.
"""

from __future__ import annotations

import json
import os

from core import names, tracking

PARENT_FILE = "mlflow_parent_run.json"


class Tracker:
    """The MLflow runs of one search (the engine logs each trial through `log_trial`)."""

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        state_dir: str,
        run_name: str,
        tags: dict | None = None,
        artifact_location: str = "",
    ):
        self.client = tracking.client(tracking_uri)
        self.experiment_id = tracking.experiment_id(self.client, experiment, artifact_location)
        path = os.path.join(state_dir, PARENT_FILE)
        if os.path.exists(path):
            with open(path) as f:
                self.parent_id = json.load(f)["run_id"]
        else:
            tags = {names.TAG_NAS_ROLE: names.NAS_ROLE_SEARCH, **(tags or {})}
            run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
            self.parent_id = run.info.run_id
            os.makedirs(state_dir, exist_ok=True)
            with open(path, "w") as f:
                json.dump({"run_id": self.parent_id}, f)

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(self.parent_id).data.params
        todo = [Param(k, str(v)[:6000]) for k, v in params.items() if k not in existing]
        if todo:
            self.client.log_batch(self.parent_id, params=todo)

    def _trial_run(self, trial_id: str) -> str:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=(
                f"{tracking.tag_equals(names.TAG_PARENT_RUN, self.parent_id)} "
                f"and {tracking.tag_equals(names.TAG_NAS_TRIAL, str(trial_id))}"
            ),
        )
        if runs:
            return runs[0].info.run_id
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{trial_id}",
            tags={names.TAG_PARENT_RUN: self.parent_id, names.TAG_NAS_TRIAL: str(trial_id)},
        )
        return run.info.run_id

    def log_trial(self, row: dict, architecture: dict, history: dict) -> None:
        from mlflow.entities import Metric, Param, RunTag

        run_id = self._trial_run(row["trial_id"])
        existing = self.client.get_run(run_id).data.params
        params = [Param(f"arch.{k}", str(v)) for k, v in sorted(architecture.items())]
        params = [p for p in params if p.key not in existing]
        metrics = []
        keys = ("score", "params", "wall_s", "examples_seen", "epochs", "latency_ms")
        for key in (*keys, "score_mean", "score_std", "score_runs"):  # the last: re-evaluation
            if isinstance(row.get(key), (int, float)) and not isinstance(row.get(key), bool):
                metrics.append(Metric(key, float(row[key]), 0, 0))
        for name, values in history.items():
            metrics += [Metric(name, float(v), 0, step) for step, v in enumerate(values)]
        tags = [
            RunTag(f"nas.{k}", str(row.get(k)))
            for k in ("status", "fidelity", "early_stopped", "parent", "mutation", "summary")
        ]
        for i in range(0, len(metrics), 900):  # MLflow's batch limit is 1000
            self.client.log_batch(run_id, metrics=metrics[i : i + 900])
        self.client.log_batch(run_id, params=params[:90], tags=tags)
        for i in range(90, len(params), 90):
            self.client.log_batch(run_id, params=params[i : i + 90])
        ok = row["status"] in ("completed", "promoted", "retrain")
        self.client.set_terminated(run_id, "FINISHED" if ok else "KILLED")

    def trial_runs(self) -> list:
        return self.client.search_runs(
            [self.experiment_id],
            filter_string=tracking.tag_equals(names.TAG_PARENT_RUN, self.parent_id),
        )

    def finish(self, out_dir: str, metrics: dict, status: str = "FINISHED") -> None:
        from mlflow.entities import Metric

        self.client.log_batch(
            self.parent_id, metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items()]
        )
        self.client.log_artifacts(self.parent_id, out_dir, artifact_path=names.SEARCH_ARTIFACTS)
        self.client.set_terminated(self.parent_id, status)
