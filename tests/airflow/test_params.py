"""Each Params rule rejects a bad value, and a bad trigger fails before any node runs."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.airflow.conftest import AIRFLOW, DAGS


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS)).dags["retrain"]


def validate(dag, **overrides):
    from airflow.sdk.definitions.param import ParamsDict

    params = ParamsDict({k: v for k, v in dag.params.items()})
    for key, value in overrides.items():
        params[key] = value
    return params.validate()


def test_defaults_are_valid(dag):
    values = validate(dag)
    assert values["accuracy_threshold"] == 0.9
    assert values["strategy"] == "evolution" and values["space"] == "chain"
    assert values["search_fidelity"] == {} and values["curve_stop"] is True
    assert values["successive_halving"] is False


def test_dag_choices_match_the_pipeline():
    """The DAG never imports TFX or Keras, so it repeats the NAS registries' names."""
    import retrain as dag_module

    from pipelines import settings as retrain

    assert sorted(dag_module.SPACES) == sorted(retrain.SPACES)
    assert sorted(dag_module.STRATEGIES) == sorted(retrain.STRATEGIES)
    fields = {f for f in retrain.Settings.__dataclass_fields__}
    assert set(dag_module.SETTING_PARAMS) <= fields


@pytest.mark.parametrize(
    "key, bad",
    [
        ("data", ""),
        ("data", 3),
        ("label", ""),
        ("task", "ranking"),
        ("rmse_threshold", -1),
        ("accuracy_threshold", 1.5),
        ("accuracy_threshold", -0.1),
        ("accuracy_threshold", "high"),
        ("strategy", "simulated_annealing"),
        ("space", "tree"),
        ("seed", 0),
        ("search_fidelity", {"width": 2}),
        ("search_fidelity", {"epoch": 3}),
        ("curve_stop", "yes"),
        ("successive_halving", 1),
        ("max_trials", 0),
        ("max_trials", 2.5),
        ("time_budget_min", 0),
        ("time_budget_min", -5),
        ("epochs", 0),
        ("executor", "threads"),
        ("drift_threshold", 1.5),
        ("drift_threshold", -0.1),
        ("allowed_anomalies", "island"),
        ("allowed_anomalies", ["island:not a kind"]),
        ("allowed_anomalies", [":ENUM_TYPE_UNEXPECTED_STRING_VALUES"]),
        ("allowed_anomalies", ["*"]),
        ("schema_file", 3),
        ("beam_pipeline_args", "--runner=FlinkRunner"),
        ("beam_pipeline_args", ["runner=FlinkRunner"]),
    ],
)
def test_bad_param_is_rejected(dag, key, bad):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=key):
        validate(dag, **{key: bad})


@pytest.mark.parametrize(
    "key, good",
    [
        ("accuracy_threshold", 0.0),
        ("max_trials", 1),
        ("drift_threshold", 0),
        ("allowed_anomalies", ["island:ENUM_TYPE_UNEXPECTED_STRING_VALUES", "body_mass_g"]),
        ("allowed_anomalies", ["*:COMPARATOR_L_INFTY_HIGH"]),
        (
            "beam_pipeline_args",
            ["--direct_running_mode=multi_processing", "--direct_num_workers=0"],
        ),
    ],
)
def test_boundary_values_pass(dag, key, good):
    assert validate(dag, **{key: good})[key] == good


def test_invalid_trigger_fails_before_any_node(tmp_path, airflow_db):
    """Through the real CLI: the run is refused, so no task (and no TFX node) starts."""
    env = dict(os.environ, RETRAIN_STATE_DIR=str(tmp_path / "state"))
    out = subprocess.run(
        [AIRFLOW, "dags", "test", "retrain", "-c", '{"accuracy_threshold": 7}'],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode != 0
    assert "accuracy_threshold" in out.stdout + out.stderr
    assert "[DAG TEST] starting task_id" not in out.stdout + out.stderr
    assert not (tmp_path / "state").exists(), "a node wrote pipeline state"
