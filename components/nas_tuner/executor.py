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

from components.nas_tuner.worker import rendezvous_dir, state_dir
from core import names
from core import tracking as core_tracking


class Executor(base_executor.BaseExecutor):
    """Runs the search (or its stand-in: a promoted candidate, the champion retrained) and
    writes the Trainer's hyperparameters, the best weights and the search results."""

    def _plan(self, config, champion, exec_properties, run_id):
        """(search config, fixed candidate or None, mode) for this run's mode and promotion.
        `champion`: (hyperparameters, weights) of the registry's champion, or None."""
        from components.nas_tuner import history, modes
        from core import tracking

        mode = modes.check_mode(exec_properties["mode"])
        promote = (exec_properties.get("promote") or "").strip()
        uri = exec_properties.get("tracking_uri") or ""
        experiment = exec_properties["experiment"]
        if promote:
            if not uri:
                raise ValueError("promote_trial needs MLflow tracking, where searches are kept")
            where, row = history.find_trial(tracking.client(uri), experiment, promote)
            print(
                f"NAS promotion: trial {row['trial_id']} of run {where!r} "
                f"({row.get('summary')}) is trained at full fidelity instead of a search",
                flush=True,
            )
            return modes.full_fidelity(config), modes.promoted(where, row), "promote"
        if mode != "full" and champion is None:
            print(
                f"NAS mode {mode}: there is no champion with kept weights yet; running a full "
                "search",
                flush=True,
            )
            return config, None, "full"
        if mode == "retrain":
            print(
                f"NAS mode retrain: the champion ({champion[1]}) is retrained on the new "
                "data, warm-started, with no search",
                flush=True,
            )
            return modes.full_fidelity(config), modes.retrained(champion), mode
        if mode == "warm":
            leaders = []
            if uri:
                leaders = history.leaders(
                    tracking.client(uri), experiment, modes.WARM_LEADERS + 1, run_id
                )
            return modes.warm_config(config, champion, leaders), None, mode
        return config, None, mode

    @staticmethod
    def _fixed_result(config, spec, fixed, tracker):
        from nas.search import SearchResult

        row = dict(fixed.row)
        if tracker is not None:
            tracker.log_trial(row, fixed.architecture.choices if fixed.architecture else {}, {})
        return SearchResult.of(
            config,
            spec,
            row,
            architecture=fixed.architecture,
            hyperparameters=fixed.hyperparameters,
            weights_path=fixed.weights,
        )

    @staticmethod
    def _notebooks(paths, input_dict, graph_uri, label, spec, config, champion, run_id, rows):
        """Notebooks re-creating the top candidates and the champion, beside the leaderboard
        (so logged to MLflow with it), an epoch a pass over the training rows of `rows`."""
        import math

        from components.nas_tuner import notebooks
        from nas import task
        from nas.spaces.base import DEFAULT_BATCH_SIZE, batch_size_of

        with open(paths["leaderboard_json"]) as f:
            ranked = json.load(f)
        # The winner's batch size (searched), else the config's fixed one.
        batch = batch_size_of(ranked[0] if ranked else {}, config.batch_size or DEFAULT_BATCH_SIZE)
        examples = artifact_utils.get_single_uri(input_dict["examples"])
        data = {
            "examples": examples,
            "transform_graph": graph_uri,
            "label": label,
            "input_spec": spec.to_json(),
        }
        training = {
            "epochs": config.epochs,
            "steps": math.ceil(rows.train_rows / batch),
            "eval_steps": math.ceil(rows.validation_rows / batch),
            "batch_size": batch,
            "seed": config.seed,
            "metric": task.get(config.task).objective.removeprefix("val_"),
        }
        out = os.path.join(os.path.dirname(paths["leaderboard_json"]), "notebooks")
        hp = champion[0] if champion else None
        written = notebooks.write_all(ranked, out, data, training, run_id, hp)
        print(f"NAS notebooks: {len(written)} in {out}", flush=True)

    def Do(self, input_dict, output_dict, exec_properties):
        import tensorflow_transform as tft

        from components.nas_tuner import tf_data, tf_engine, tfx_io
        from nas.config import SearchConfig
        from nas.search import run_search, write_outputs

        tf_engine.install()  # the engine's TensorFlow parts: GPUs, the "tflite" latency
        config = SearchConfig.from_json(exec_properties["search_config"])
        label = exec_properties["label"]
        run_id = self._context._pipeline_run_id or "no-run-id"
        node_id = self._context._pipeline_node.node_info.id
        state = state_dir(exec_properties["state_root"], run_id, node_id)
        models = input_dict.get("champion_model") or []
        champion = tfx_io.trained(models[0].uri) if models else None
        config, fixed, mode = self._plan(config, champion, exec_properties, run_id)

        graph_uri = artifact_utils.get_single_uri(input_dict["transform_graph"])
        plan = tf_data.data_plan(
            artifact_utils.get_single_instance(input_dict["statistics"]),
            tft.TFTransformOutput(graph_uri),
            label,
            config.task,
            int(exec_properties.get("steps_cap") or 0),
        )
        print(
            f"NAS data: {plan['train_rows']} training rows (an epoch is one pass"
            + (f", capped at {plan['steps_cap']} steps" if plan["steps_cap"] else "")
            + f"), {plan['validation_rows']} validation rows"
            + (f", classes {plan['class_counts']}" if plan["class_counts"] else ""),
            flush=True,
        )
        spec, data = tfx_io.search_inputs(
            input_dict["examples"], graph_uri, label, config, plan, state
        )
        tracker = None
        if exec_properties.get("tracking_uri"):
            from components.nas_tuner.tracking import Tracker

            tracker = Tracker(
                exec_properties["tracking_uri"],
                exec_properties["experiment"],
                state,
                run_name=f"nas-{run_id}",
                tags={
                    names.TAG_PIPELINE_RUN: run_id,
                    names.TAG_NAS_SPACE: config.space,
                    names.TAG_NAS_STRATEGY: config.strategy,
                    names.TAG_NAS_MODE: mode,
                },
                artifact_location=exec_properties.get("artifact_location") or "",
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
                "plan": plan,
                "search_config": config.to_json(),
                "tracking_uri": exec_properties.get("tracking_uri") or "",
                "experiment": exec_properties["experiment"],
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
        self._notebooks(
            paths,
            input_dict,
            graph_uri,
            label,
            spec,
            config,
            champion,
            run_id,
            data,
        )
        hp_uri = artifact_utils.get_single_uri(output_dict["best_hyperparameters"])
        io_utils.write_string_file(
            os.path.join(hp_uri, names.BEST_HYPERPARAMETERS),
            json.dumps(result.hyperparameters.get_config()),
        )
        model_artifact = artifact_utils.get_single_instance(output_dict["best_model"])
        serving = path_utils.serving_model_path(model_artifact.uri)
        os.makedirs(serving, exist_ok=True)
        for name in ("weights", "best_architecture", "search_config", "input_spec"):
            if os.path.exists(paths[name]):
                shutil.copyfile(paths[name], os.path.join(serving, os.path.basename(paths[name])))
        # The Trainer sizes its epochs and class weights from the same counts, and fits its
        # epochs in the time budget at the costs the search measured (pipelines/trainer_budget.py).
        if result.plan:
            plan = {**plan, "costs": result.plan["costs"]}
        io_utils.write_string_file(os.path.join(serving, tfx_io.DATA_PLAN), json.dumps(plan))
        if tracker is not None:
            metrics = {"trials": len(result.rows)}
            if result.best_score is not None:
                metrics["best_score"] = result.best_score
            if result.plan:  # the time budget's plan (nas/estimation/planner.py)
                tracker.log_params({"plan": result.plan["line"]})
                for key in ("trials", "data_fraction", "epochs", "rows_per_epoch"):
                    metrics[f"plan_{key}"] = result.plan[key]
            tracker.finish(results_uri, metrics)
        print(f"NAS report: {paths['report']}", flush=True)
        if tracker is not None:
            link = core_tracking.run_link(
                exec_properties["tracking_uri"], tracker.experiment_id, tracker.parent_id
            )
            print(f"NAS search in MLflow: {link}", flush=True)
        shutil.rmtree(state, ignore_errors=True)
