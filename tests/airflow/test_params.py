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
    assert values["gate_metric"] == "auto" and values["gate_min"] is None
    assert values["strategy"] == "evolution" and values["space"] == "auto"
    assert values["search_fidelity"] == {} and values["curve_stop"] is True
    assert values["successive_halving"] is False


def test_dag_choices_are_the_engine_s_catalogues(dag):
    """The DAG never imports TFX or Keras: its enums come from the engine's stdlib-only
    declarations through the settings contract, not from copies."""
    from core import settings as contract
    from nas import config, task

    def enum(name):
        return dag.params.get_param(name).schema["enum"]

    assert enum("space") == [config.AUTO, *config.SPACES]
    assert enum("strategy") == list(config.STRATEGIES)
    assert enum("task") == ["auto", *task.NAMES]
    assert enum("mode") == list(contract.MODES)


def mismatches(params, contract) -> list[str]:
    """How the DAG's Params differ from the contract's user settings: a Param missing or
    extra, or a default, description or schema rule not the contract's."""
    users = {s.name: s for s in contract.params()}
    out = [f"{n}: not a Param" for n in users if n not in params]
    out += [f"{n}: a Param the contract does not declare" for n in params if n not in users]
    for name in set(users) & set(params):
        want, param = users[name].param(), params.get_param(name)
        got = {"default": param.value, "description": param.description, **param.schema}
        out += [
            f"{name}: {k}={got.get(k)!r}, contract {v!r}"
            for k, v in want.items()
            if got.get(k) != v
        ]
    return out


def test_params_are_the_contract_s_user_settings(dag):
    import retrain as dag_module

    from core import settings as contract

    assert mismatches(dag.params, contract) == []
    assert list(dag.params) == [s.name for s in contract.params()]
    assert set(dag_module.SETTING_PARAMS) == {
        s.name for s in contract.params() if s.scope == "pipeline"
    }
    assert "executor" not in dag_module.SETTING_PARAMS  # steers the DAG only


def test_the_contract_check_catches_a_drifted_param(dag):
    from airflow.sdk import Param
    from airflow.sdk.definitions.param import ParamsDict

    from core import settings as contract

    drifted = {n: dag.params.get_param(n) for n in dag.params}
    drifted["max_trials"] = Param(5, type="integer", minimum=1, description="Search trials.")
    del drifted["executor"]
    found = mismatches(ParamsDict(drifted), contract)
    assert any(m.startswith("max_trials: default=5") for m in found), found
    assert "executor: not a Param" in found


@pytest.mark.parametrize(
    "key, bad",
    [
        ("data", ""),
        ("data", 3),
        ("label", ""),
        ("task", "ranking"),
        ("gate_metric", "auc"),
        ("gate_metric", 3),
        ("gate_min", "high"),
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
        ("gate_min", 0.7),
        ("gate_metric", "roc_auc"),
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
        [AIRFLOW, "dags", "test", "retrain", "-c", '{"gate_metric": "auc"}'],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode != 0
    assert "gate_metric" in out.stdout + out.stderr
    assert "[DAG TEST] starting task_id" not in out.stdout + out.stderr
    assert not (tmp_path / "state").exists(), "a node wrote pipeline state"
