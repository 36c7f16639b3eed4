"""The trust boundary (dags/retrain_support/trust.py): what a trigger may point the pipeline at,
and each node's time limit. One refusal goes through the real CLI; the rest call the check."""

from __future__ import annotations

import json
import os

import pytest
from retrain import PARAMS
from retrain_support import keyboard, trust

from core import settings as contract
from tests.airflow.conftest import REPO
from tests.commands import dags_test

DEFAULTS = {name: p.value for name, p in PARAMS.items()}


def problems(settings=None, **params):
    return trust.problems(params, DEFAULTS, settings or {}, contract, REPO)


def test_files_outside_the_allowed_roots_are_refused(tmp_path):
    roots = {"allowed_roots": ["data"]}
    module = tmp_path / "evil.py"
    module.write_text("import os\n")
    found = problems(roots, data=str(tmp_path), schema_file="/etc/passwd", baseline_module=module)
    assert [p.split(":")[0] for p in found] == [
        "param data",
        "param schema_file",
        "param baseline_module",
    ]
    assert f"{module} is outside the allowed roots ({REPO / 'data'})" in found[2]
    # inside the roots, and the DAG's own defaults, pass
    assert problems(roots, data="data/penguins", schema_file="data/penguins/x.pbtxt") == []
    assert problems(roots, data=DEFAULTS["data"]) == []


def test_a_trigger_may_not_turn_a_required_sign_off_off():
    """promotion approval, where the DAG's default (the operator's, a dataset's) says so."""
    required = dict(DEFAULTS, promotion="approval")
    [found] = trust.problems({"promotion": "auto"}, required, {}, contract, REPO)
    assert found.startswith("param promotion: this DAG's promotion is approval")
    assert trust.problems({"promotion": "approval"}, required, {}, contract, REPO) == []
    # where auto is the default, a trigger may ask for a sign-off, or not
    assert problems(promotion="approval") == [] and problems(promotion="auto") == []


def test_a_symbolic_link_does_not_leave_the_roots(tmp_path):
    inside = tmp_path / "allowed"
    inside.mkdir()
    (inside / "escape").symlink_to("/etc")
    roots = {"allowed_roots": [str(inside)]}
    assert problems(roots, data=str(inside)) == []
    [found] = problems(roots, data=str(inside / "escape"))
    assert found.startswith(f"param data: {inside / 'escape'} is outside the allowed roots")
    # a prefix of a root's name is not inside it
    assert problems(roots, data=f"{inside}-not") != []


def test_the_folder_named_to_make_run_is_trusted_for_that_run_only(tmp_path, monkeypatch):
    """make run DATA=<folder> (retrain_support/keyboard.py): the folder joins the roots in force
    through that run's RETRAIN_SETTINGS; the deployment's boundary is unchanged."""
    mine = tmp_path / "mine"
    mine.mkdir()
    monkeypatch.setenv("RETRAIN_ALLOWED_ROOTS", json.dumps(["data"]))
    monkeypatch.delenv("RETRAIN_SETTINGS", raising=False)
    assert problems(data=str(mine)) != []  # the deployment's roots refuse it
    settings = keyboard.operator_settings(str(mine), dict(os.environ))
    assert settings == {"allowed_roots": ["data", str(mine)]}
    assert problems(settings, data=str(mine)) == []
    assert problems(settings, data=str(tmp_path)) != []  # that folder only
    # Roots in RETRAIN_SETTINGS stay in force (they win over the variable), with the folder added.
    monkeypatch.setenv("RETRAIN_SETTINGS", json.dumps({"allowed_roots": ["/srv"], "epochs": 2}))
    assert keyboard.operator_settings(str(mine), dict(os.environ)) == {
        "allowed_roots": ["/srv", str(mine)],
        "epochs": 2,
    }
    assert keyboard.conf('{"epochs": 1}', str(mine), "y") == {
        "epochs": 1,
        "data": str(mine),
        "label": "y",
    }
    with pytest.raises(ValueError, match="no such folder"):
        keyboard.conf("", str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="CONF is not a JSON object"):
        keyboard.conf("[1]", str(mine))


def test_beam_options_come_from_the_operator_s_allow_list():
    assert problems(beam_pipeline_args=["--direct_num_workers=2"]) == []
    [found] = problems(
        beam_pipeline_args=["--direct_num_workers=2", "--environment_type=PROCESS", "--setup_file"]
    )
    assert "['--environment_type=PROCESS', '--setup_file'] not allowed" in found
    allowed = {"allowed_beam_options": ["environment_type", "setup_file"]}
    assert problems(allowed, beam_pipeline_args=["--environment_type=PROCESS"]) == []


def test_each_node_has_a_time_limit_from_the_settings_and_the_data(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("x\n1\n")
    settings = {"data": str(data), "time_budget_min": 2}
    assert trust.timeout_s("Tuner", settings, contract, REPO) == 120 + 1800
    assert trust.timeout_s("TunerWorker", settings, contract, REPO) == 120 + 1800
    assert trust.timeout_s("Transform", settings, contract, REPO) == 3600
    settings.update(node_timeout_s=100, tuner_timeout_margin_s=60)
    assert trust.timeout_s("Tuner", settings, contract, REPO) == 180
    with open(data / "big.bin", "wb") as f:  # 1.5 GB, sparse: two started GB
        f.truncate(1_500_000_000)
    assert trust.timeout_s("ExampleGen", settings, contract, REPO) == 200


def test_every_task_has_an_execution_timeout():
    from retrain import retrain

    assert {t.task_id for t in retrain.tasks if not t.execution_timeout} == set()


def test_a_baseline_module_outside_the_roots_is_refused_before_any_node(tmp_path, airflow_db):
    """Through the real CLI: check_params refuses it in one line, and no node starts."""
    module = tmp_path / "elsewhere" / "model.py"
    module.parent.mkdir()
    module.write_text("def build_model(hp, spec):\n    raise SystemExit('ran')\n")
    env = dict(
        os.environ,
        RETRAIN_STATE_DIR=str(tmp_path / "state"),
        RETRAIN_ALLOWED_ROOTS=json.dumps(["data"]),
    )
    conf = {"baseline_module": str(module)}
    log = dags_test("retrain", conf, env, timeout=300)
    assert f"param baseline_module: {module} is outside the allowed roots" in log, log[-3000:]
    assert "RETRAIN FAILED: node check_params" in log, log[-3000:]
    assert "starting task_id=ExampleGen" not in log
    assert not (tmp_path / "state" / "pipeline_root").exists()
