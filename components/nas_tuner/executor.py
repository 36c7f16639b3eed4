"""NasTuner executor: runs the search in a state directory keyed by pipeline run id and node
id, so a relaunch (an Airflow retry of the same run) resumes it, then writes the outputs and
removes the state."""

from __future__ import annotations

import json
import os
import shutil

from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

BEST_HP_FILE = "best_hyperparameters.txt"  # TFX Tuner's file name; the Trainer reads it


def state_dir(state_root: str, run_id: str, node_id: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in run_id)
    return os.path.join(state_root, safe, node_id)


def rendezvous_dir(state_root: str, run_id: str, node_id: str) -> str:
    """Where a parallel search's chief announces itself to its workers (outside the state
    directory, which is removed when the search succeeds)."""
    return state_dir(os.path.join(state_root, "_rendezvous"), run_id, node_id)


class Executor(base_executor.BaseExecutor):
    def _plan(self, config, champion, exec_properties, run_id):
        """(search config, fixed candidate or None, mode) for this run's mode and promotion.
        `champion`: (hyperparameters, weights) of the registry's champion, or None."""
        from components.nas_tuner import history, modes

        mode = modes.check_mode(exec_properties.get("mode") or "full")
        promote = (exec_properties.get("promote") or "").strip()
        uri = exec_properties.get("tracking_uri") or ""
        experiment = exec_properties.get("experiment") or "nas"
        if promote:
            if not uri:
                raise ValueError("promote_trial needs MLflow tracking, where searches are kept")
            where, row = history.find_trial(history.client_for(uri), experiment, promote)
            print(f"NAS promotion: trial {row['trial_id']} of run {where!r} ({row.get('summary')})"
                  " is trained at full fidelity instead of a search", flush=True)  # fmt: skip
            return modes.full_fidelity(config), modes.promoted(where, row), "promote"
        if mode != "full" and champion is None:
            print(f"NAS mode {mode}: there is no champion with kept weights yet; running a full "
                  "search", flush=True)  # fmt: skip
            return config, None, "full"
        if mode == "retrain":
            print(f"NAS mode retrain: the champion ({champion[1]}) is retrained on the new "
                  "data, warm-started, with no search", flush=True)  # fmt: skip
            return modes.full_fidelity(config), modes.retrained(champion), mode
        if mode == "warm":
            leaders = []
            if uri:
                leaders = history.leaders(
                    history.client_for(uri), experiment, modes.WARM_LEADERS + 1, run_id
                )
            return modes.warm_config(config, champion, leaders), None, mode
        return config, None, mode

    @staticmethod
    def _fixed_result(config, spec, fixed, tracker):
        from nas.search import SearchResult

        row = dict(fixed.row)
        if tracker is not None:
            tracker.log_trial(row, fixed.architecture.choices if fixed.architecture else {}, {})
        return SearchResult(
            config=config,
            input_spec=spec,
            best_trial_id=row["trial_id"],
            architecture=fixed.architecture,
            hyperparameters=fixed.hyperparameters,
            weights_path=fixed.weights,
            rows=[row],
            stop_reason=row["status"],
            device="none (no search)",
        )

    @staticmethod
    def _notebooks(paths, input_dict, graph_uri, label, spec, config, champion, run_id,
                   train_steps, eval_steps):  # fmt: skip
        """Notebooks re-creating the top candidates and the champion, beside the leaderboard
        (so logged to MLflow with it)."""
        from components.nas_tuner import notebooks

        with open(paths["leaderboard_json"]) as f:
            ranked = json.load(f)
        examples = artifact_utils.get_single_uri(input_dict["examples"])
        data = {"examples": examples, "transform_graph": graph_uri, "label": label,
                "input_spec": spec.to_json()}  # fmt: skip
        training = {"epochs": config.epochs, "steps": train_steps, "eval_steps": eval_steps,
                    "batch_size": config.batch_size, "seed": config.seed}  # fmt: skip
        out = os.path.join(os.path.dirname(paths["leaderboard_json"]), "notebooks")
        written = notebooks.write_all(ranked, out, data, training, run_id,
                                      champion[0] if champion else None)  # fmt: skip
        print(f"NAS notebooks: {len(written)} in {out}", flush=True)

    def Do(self, input_dict, output_dict, exec_properties):
        from components.nas_tuner import tfx_io
        from nas.config import SearchConfig
        from nas.search import run_search, write_outputs

        config = SearchConfig.from_json(exec_properties["search_config"])
        label = exec_properties["label"]
        run_id = self._context._pipeline_run_id or "no-run-id"
        node_id = self._context._pipeline_node.node_info.id
        state = state_dir(exec_properties["state_root"], run_id, node_id)
        models = input_dict.get("champion_model") or []
        champion = tfx_io.trained(models[0].uri) if models else None
        config, fixed, mode = self._plan(config, champion, exec_properties, run_id)

        graph_uri = artifact_utils.get_single_uri(input_dict["transform_graph"])
        train_steps = int(exec_properties["train_steps"])
        eval_steps = int(exec_properties["eval_steps"])
        spec, data = tfx_io.search_inputs(
            input_dict["examples"], graph_uri, label, config, train_steps, eval_steps
        )
        tracker = None
        if exec_properties.get("tracking_uri"):
            from components.nas_tuner.tracking import Tracker

            tracker = Tracker(
                exec_properties["tracking_uri"],
                exec_properties.get("experiment") or "nas",
                state,
                run_name=f"nas-{run_id}",
                tags={
                    "tfx_pipeline_run_id": run_id,
                    "nas.space": config.space,
                    "nas.strategy": config.strategy,
                    "nas.mode": mode,
                },
                artifact_location=exec_properties.get("artifact_location") or None,
            )
            tracker.log_params({"search_config": config.to_json(), "input_spec": spec.to_json()})
        print(f"NAS state directory (kept until the search succeeds): {state}", flush=True)
        # What a worker of a parallel search needs to rebuild the same data (worker.py).
        worker_info = {}
        if config.parallel_trials:
            from tfx.utils import json_utils

            worker_info = {
                "examples": json_utils.dumps(input_dict["examples"]),
                "transform_graph": graph_uri,
                "label": label,
                "train_steps": train_steps,
                "eval_steps": eval_steps,
                "search_config": config.to_json(),
                "tracking_uri": exec_properties.get("tracking_uri") or "",
                "experiment": exec_properties.get("experiment") or "nas",
                "artifact_location": exec_properties.get("artifact_location") or "",
            }
        if fixed is not None:
            result = self._fixed_result(config, spec, fixed, tracker)
        else:
            result = run_search(
                config,
                spec,
                data,
                state,
                tracker=tracker,
                rendezvous=rendezvous_dir(exec_properties["state_root"], run_id, node_id),
                worker_info=worker_info,
            )

        results_uri = artifact_utils.get_single_uri(output_dict["search_results"])
        paths = write_outputs(result, results_uri)
        self._notebooks(paths, input_dict, graph_uri, label, spec, config, champion, run_id,
                        train_steps, eval_steps)  # fmt: skip
        hp_uri = artifact_utils.get_single_uri(output_dict["best_hyperparameters"])
        io_utils.write_string_file(
            os.path.join(hp_uri, BEST_HP_FILE), json.dumps(result.hyperparameters.get_config())
        )
        model_artifact = artifact_utils.get_single_instance(output_dict["best_model"])
        serving = path_utils.serving_model_path(model_artifact.uri)
        os.makedirs(serving, exist_ok=True)
        for name in ("weights", "best_architecture", "search_config", "input_spec"):
            if os.path.exists(paths[name]):
                shutil.copyfile(paths[name], os.path.join(serving, os.path.basename(paths[name])))
        if tracker is not None:
            metrics = {"trials": len(result.rows)}
            if result.best_score is not None:
                metrics["best_score"] = result.best_score
            tracker.finish(results_uri, metrics)
        print(f"NAS report: {paths['report']}", flush=True)
        shutil.rmtree(state, ignore_errors=True)
