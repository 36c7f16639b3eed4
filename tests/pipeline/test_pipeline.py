"""The pipeline definition and the node runner's command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.topology import NODES
from pipelines.retrain import create_pipeline
from pipelines.settings import REPO, Settings


def settings(tmp_path, **kw) -> Settings:
    return Settings(
        pipeline_root=str(tmp_path / "root"), metadata_path=str(tmp_path / "m.sqlite"), **kw
    )


def components(pipeline) -> dict[str, str]:
    return {c.id: type(c).__name__ for c in pipeline.components}


def test_csv_folder_uses_csv_example_gen(tmp_path):
    p = create_pipeline(settings(tmp_path))
    assert components(p)["ExampleGen"] == "CsvExampleGen"
    assert set(components(p)) == set(NODES)
    assert p.enable_cache
    assert components(p)["Tuner"] == "NasTuner"
    assert components(p)["ExampleValidator"] == "DataValidator"
    assert components(p)["SchemaGen"] == "SchemaGen"
    validator = next(c for c in p.components if c.id == "ExampleValidator")
    assert validator.exec_properties["profile"] == 1
    assert validator.exec_properties["experiment"] == "retrain-data"
    off = create_pipeline(settings(tmp_path, data_profile=False, explain=False))
    by_id = {c.id: c for c in off.components}
    assert by_id["ExampleValidator"].exec_properties["profile"] == 0
    assert by_id["Pusher"].exec_properties["explain"] == 0


def test_a_schema_file_replaces_schema_gen(tmp_path):
    schema = tmp_path / "schema.pbtxt"
    schema.write_text('feature { name: "species" type: BYTES }\n')
    p = create_pipeline(settings(tmp_path, schema_file=str(schema)))
    assert components(p)["SchemaGen"] == "ImportSchemaGen"
    with pytest.raises(FileNotFoundError, match="schema_file"):
        create_pipeline(settings(tmp_path, schema_file=str(tmp_path / "missing.pbtxt")))


def test_search_settings_reach_the_nas_tuner_and_the_trainer(tmp_path):
    p = create_pipeline(settings(tmp_path, space="graph", strategy="reinforce", seed=5))
    tuner = next(c for c in p.components if c.id == "Tuner")
    search = json.loads(tuner.exec_properties["search_config"])
    assert (search["space"], search["strategy"], search["seed"]) == ("graph", "reinforce", 5)
    assert tuner.exec_properties["state_root"].startswith(str(tmp_path / "root"))
    trainer = next(c for c in p.components if c.id == "Trainer")
    assert {"hyperparameters", "base_model"} <= set(trainer.inputs)


def test_tfrecord_folder_uses_import_example_gen(tmp_path):
    data = tmp_path / "records"
    data.mkdir()
    (data / "part-0.tfrecord.gz").write_bytes(b"")
    p = create_pipeline(settings(tmp_path, data=str(data), task="classification"))
    assert components(p)["ExampleGen"] == "ImportExampleGen"
    # Nothing to infer the task from: it compiles (ExampleGen will name the data's problem).
    task, why = settings(tmp_path, data=str(data)).resolved_task()
    assert task == "classification" and "has no values" in why, why


def test_three_splits_and_each_node_reads_the_split_that_serves_it(tmp_path):
    """ExampleGen writes train / validation / test by row hash (80/10/10 unless a dataset sets
    other shares); the Trainer fits on train and stops early on validation; the Evaluator's
    gate reads test only, with the gate settings."""
    from core import splits

    p = create_pipeline(settings(tmp_path, gate_metric="macro_f1", gate_min=0.7))
    by_id = {c.id: c for c in p.components}
    output = str(by_id["ExampleGen"].exec_properties["output_config"])
    for name, buckets in splits.DEFAULT_RATIOS.items():
        assert f'"name": "{name}"' in output and f'"hash_buckets": {buckets}' in output, output
    trainer = by_id["Trainer"].exec_properties
    assert '"train"' in str(trainer["train_args"]) and "num_steps" not in str(trainer["train_args"])
    assert '"validation"' in str(trainer["eval_args"])
    gate = json.loads(by_id["Evaluator"].exec_properties["gate"])
    assert (gate["metric"], gate["min"], gate["task"]) == ("macro_f1", 0.7, "classification")
    assert type(by_id["Evaluator"]).__name__ == "ModelGate"
    assert "statistics" in by_id["Tuner"].inputs
    with pytest.raises(ValueError, match="does not apply to multiclass"):
        create_pipeline(settings(tmp_path, gate_metric="roc_auc"))
    other = create_pipeline(
        settings(tmp_path, split_ratios={"train": 6, "validation": 2, "test": 2})
    )
    example_gen = next(c for c in other.components if c.id == "ExampleGen")
    assert '"hash_buckets": 6' in str(example_gen.exec_properties["output_config"])


def test_a_label_with_one_value_or_too_few_rows_is_refused_before_anything_runs(tmp_path):
    from pipelines.task import DataError

    one = tmp_path / "one"
    one.mkdir()
    (one / "d.csv").write_text("x,y\n" + "".join(f"{i},1\n" for i in range(40)))
    with pytest.raises(DataError, match="single value"):
        create_pipeline(settings(tmp_path, data=str(one), label="y"))
    five = tmp_path / "five"
    five.mkdir()
    (five / "d.csv").write_text("x,y\n1,a\n2,b\n3,a\n4,b\n5,a\n")
    with pytest.raises(DataError, match="too few rows to judge a model"):
        create_pipeline(settings(tmp_path, data=str(five), label="y"))


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"gate_metric": "auc"}, "gate_metric"),
        ({"decision_threshold": "recall:2"}, "decision_threshold"),
        ({"split_ratios": {"train": 9, "test": 1}}, "split_ratios"),
        ({"strategy": "annealing"}, "strategy"),
        ({"space": "tree"}, "space"),
        ({"max_trials": 0}, "max_trials"),
        ({"colour": "blue"}, "unknown setting"),
        ({"drift_threshold": -1}, "drift thresholds"),
        ({"drift_thresholds": {"body_mass_g": "high"}}, "drift thresholds"),
        ({"allowed_anomalies": ["*"]}, "allowed_anomalies"),
        ({"allowed_anomalies": [":KIND"]}, "allowed_anomalies"),
    ],
)
def test_bad_settings_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_json(json.dumps(bad))


def node_runner(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.run_node", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_node_runner_refuses_bad_settings_with_status_2():
    out = node_runner("--run-id", "r", "--node", "Transform", "--settings", '{"max_trials": 0}')
    assert out.returncode == 2
    assert "max_trials" in out.stderr


def test_node_runner_names_an_unknown_node(tmp_path):
    s = json.dumps({"pipeline_root": str(tmp_path / "r"), "metadata_path": str(tmp_path / "m")})
    out = node_runner("--run-id", "r", "--node", "Nope", "--settings", s)
    assert out.returncode == 2
    assert "no node 'Nope'" in out.stderr and "Transform" in out.stderr


# ---- task types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, task",
    [
        (["Adelie", "Gentoo", ""], "classification"),  # text
        (["0", "1", "2", "1"], "classification"),  # few whole numbers: class codes
        ([str(v) for v in range(25, 60)], "regression"),  # many whole numbers
        (["1.5", "2.25", "1.5"], "regression"),  # fractions
    ],
)
def test_the_task_is_inferred_from_the_label(values, task):
    from pipelines.task import infer

    assert infer(values, "y")[0] == task


def test_bundled_tables_name_their_label_and_task(tmp_path):
    penguins = Settings()
    assert (penguins.label, penguins.resolved_task()[0]) == ("species", "classification")
    diabetes = Settings(data="data/diabetes")
    assert diabetes.label == "progression"
    assert diabetes.resolved_task() == (
        "regression",
        "label 'progression' is numeric with 214 distinct values",
    )
    assert Settings(data="data/diabetes", task="classification").resolved_task()[0] == (
        "classification"
    )
    # An absent label compiles as classification; the validator names it (LABEL_MISSING).
    task, why = Settings(data="data/diabetes", label="nope").resolved_task()
    assert task == "classification" and "label 'nope' is not a column of" in why, why
    with pytest.raises(ValueError, match="task='ranking'"):
        Settings.from_json('{"task": "ranking"}')


def test_regression_is_gated_on_rmse(tmp_path):
    p = create_pipeline(settings(tmp_path, data=str(REPO / "data" / "diabetes")))
    by_id = {c.id: c for c in p.components}
    gate = json.loads(by_id["Evaluator"].exec_properties["gate"])
    assert gate["task"] == "regression" and gate["metric"] == "auto" and gate["min"] is None
    search = json.loads(by_id["Tuner"].exec_properties["search_config"])
    assert search["task"] == "regression"
    assert by_id["Pusher"].exec_properties["task"] == "regression"
    assert json.loads(by_id["Transform"].exec_properties["custom_config"])["task"] == "regression"
    from core import gate as gate_module
    from core import metrics, tasks

    assert gate_module.gate_metric(metrics.kind("regression")).name == "rmse"
    config = tasks.REGRESSION.eval_config("y", "regression")
    text = str(config)
    assert "RootMeanSquaredError" in text and "MeanAbsoluteError" in text
    assert "SparseCategoricalAccuracy" not in text and "threshold" not in text


def test_each_task_type_is_one_object_and_the_user_module_gets_its_side(tmp_path):
    """The pipeline's task types are the engine's, and the user module's custom_config is
    complete (it has no defaults of its own)."""
    from core import tasks
    from nas import task as engine
    from pipelines import training as training_module
    from pipelines.user_module import model_module

    assert tasks.NAMES == engine.NAMES
    assert all(tasks.get(n).engine is engine.get(n) for n in tasks.NAMES)
    by_id = {c.id: c for c in create_pipeline(settings(tmp_path)).components}
    training = json.loads(by_id["Trainer"].exec_properties["custom_config"])
    assert set(training_module.TRAINING_KEYS) <= set(training)
    transform = json.loads(by_id["Transform"].exec_properties["custom_config"])
    classes = ["Adelie", "Chinstrap", "Gentoo"]  # sorted, whatever their frequency
    data = {"feature_shapes": {}, "categorical_features": [], "ignore": [], "hashed": []}
    data["timestamp"] = data["text"] = []
    data["text_ngrams"] = 1  # read by the user module only for a text column
    assert transform == {"label": "species", **tasks.CLASSIFICATION.user_config(classes), **data}
    assert transform["label_encoding"] in model_module.LABEL_ENCODINGS
