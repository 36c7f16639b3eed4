"""Corrupt or drifting data stops the run at validation, with one line per column and anomaly.

Real TFX nodes (ExampleGen, StatisticsGen, SchemaGen, the previous-span resolver and our
DataValidator) run one by one through the node runner on the bundled penguins, in one ML
Metadata store. Two good spans are accepted first; every bad variant of the second span must
then fail the validator, naming the column and the anomaly, and must not become the next
previous span."""

from __future__ import annotations

import logging

import pytest

from pipelines import run_node
from pipelines.settings import Settings
from tests import data_cases

NODES = ["ExampleGen", "StatisticsGen", "SchemaGen", "PreviousSpanResolver", "ExampleValidator"]


def settings(root, **kw) -> Settings:
    return Settings(
        data=str(root / "data"),
        pipeline_root=str(root / "pipeline_root"),
        metadata_path=str(root / "metadata.sqlite"),
        **kw,
    )


def validate(s: Settings, run_id: str) -> tuple[dict, str]:
    """Runs the data nodes; (the validator's result or the error it raised, as text)."""
    for node in NODES[:-1]:
        assert run_node.run_node(s, run_id, node)["state"] in ("COMPLETE", "CACHED"), node
    try:
        return run_node.run_node(s, run_id, "ExampleValidator"), ""
    except Exception as e:  # the executor's error, re-raised by the launcher
        return {"state": "FAILED"}, f"{type(e).__name__}: {e}"


def profile_of(s: Settings, run_id: str) -> tuple[str, str, str]:
    """(verdict tag, profile.html, the MLflow run's status) logged by the validator."""
    from mlflow import MlflowClient

    uri, _ = s.tracking()
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(s.data_experiment)
    assert experiment is not None, f"no experiment {s.data_experiment} in {uri}"
    (run,) = client.search_runs(
        [experiment.experiment_id], f"tags.tfx_pipeline_run_id = '{run_id}'"
    )
    page = client.download_artifacts(run.info.run_id, "profile.html")
    with open(page) as f:
        return run.data.tags["data.verdict"], f.read(), run.info.status


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("validation")
    header, _ = data_cases.rows()
    first, second = data_cases.spans()
    s = settings(root)
    data_cases.write(root / "data", header, first)
    result, error = validate(s, "span-1")
    assert result["state"] == "COMPLETE", error
    # A second span of the same distribution passes the default drift threshold.
    data_cases.write(root / "data", header, second)
    result, error = validate(s, "span-2")
    assert result["state"] == "COMPLETE", error
    # The same data again: the data nodes are cached, so current and previous statistics are
    # one artifact. The previous span must still be found whole (statistics and schema).
    result, error = validate(s, "span-2-again")
    assert result["state"] == "COMPLETE", error
    return root, second


@pytest.mark.parametrize("case", sorted(data_cases.REFUSED_CASES))
def test_unusable_data_is_refused_before_any_node(case, tmp_path):
    from pipelines import task as data_task
    from pipelines.retrain import create_pipeline

    _, good = data_cases.spans()
    data_cases.write(tmp_path / "data", *data_cases.case_data(case, good))
    with pytest.raises(data_task.DataError) as refused:
        create_pipeline(settings(tmp_path))
    assert data_cases.REFUSED_CASES[case] in str(refused.value), refused.value


@pytest.mark.parametrize("case", sorted(data_cases.VALIDATION_CASES))
def test_bad_data_fails_validation_naming_column_and_anomaly(store, case, caplog):
    root, good = store
    column, kind = data_cases.VALIDATION_CASES[case]
    data_cases.write(root / "data", *data_cases.case_data(case, good))
    # The absl logger's own level too: TensorFlow leaves it at WARNING after any in-process
    # SavedModel save (autotrackable restores absl's default verbosity), e.g. another module's.
    with caplog.at_level(logging.INFO, logger="absl"):
        result, error = validate(settings(root), f"bad-{case}")
    assert result["state"] != "COMPLETE", f"{case} was accepted"
    assert f"column {column}: {kind}" in error, error
    lines = [r.getMessage() for r in caplog.records if "DATA ANOMALY:" in r.getMessage()]
    assert any(f"column {column}: {kind}" in ln for ln in lines), lines
    # The profile of the rejected data is in MLflow (TFX removed the node's outputs).
    verdict, page, status = profile_of(settings(root), f"bad-{case}")
    assert (verdict, status) == ("rejected", "FAILED")
    assert "Rejected" in page and f"<td>{column}</td><td>{kind}</td>" in page
    assert any("DATA PROFILE: " in r.getMessage() for r in caplog.records)


def test_a_retried_rejection_replaces_its_profile(store):
    root, good = store
    data_cases.write(root / "data", *data_cases.case_data("new_category", good))
    for _ in range(2):  # a failed execution is not cached: the validator runs again
        result, error = validate(settings(root), "retried-bad")
        assert result["state"] != "COMPLETE" and "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in error
    verdict, page, status = profile_of(settings(root), "retried-bad")  # exactly one run
    assert (verdict, status) == ("rejected", "FAILED") and "<td>island</td>" in page


def test_the_profile_shows_every_column_against_the_previous_span(store):
    root, _ = store
    verdict, page, status = profile_of(settings(root), "span-2")
    assert (verdict, status) == ("accepted", "FINISHED")
    header, _ = data_cases.rows()
    for column in header:
        assert f"<td>{column}</td>" in page, column
    assert "previous span" in page and "previous: missing" in page
    assert "data:image/png;base64," in page
    # span-1 had no previous span
    assert "no previous span" in profile_of(settings(root), "span-1")[1]


def test_an_accepted_anomaly_passes_and_is_logged(store, caplog):
    root, good = store
    data_cases.write(root / "data", *data_cases.case_data("new_category", good))
    s = settings(root, allowed_anomalies=("island:ENUM_TYPE_UNEXPECTED_STRING_VALUES",))
    with caplog.at_level(logging.INFO):
        result, error = validate(s, "accepted-new-category")
    assert result["state"] == "COMPLETE", error
    lines = [r.getMessage() for r in caplog.records if "DATA ANOMALY ACCEPTED" in r.getMessage()]
    assert any("column island: ENUM_TYPE_UNEXPECTED_STRING_VALUES" in ln for ln in lines)


def test_a_curated_schema_is_the_reference_and_accepts_an_edited_domain(store, tmp_path):
    """schema_file replaces the inferred reference: without "Atlantis" in its island domain the
    new category fails (even after an accepted run saw it); with it added, the data passes."""
    import glob

    import tensorflow_data_validation as tfdv

    from components.data_validator import checks

    root, good = store
    # span-1's inferred schema: the output with the lowest execution id
    outputs = glob.glob(str(root / "pipeline_root" / "SchemaGen" / "schema" / "*"))
    first = min(outputs, key=lambda p: int(p.rsplit("/", 1)[1]))
    schema = checks.loosened(tfdv.load_schema_text(f"{first}/schema.pbtxt"))
    strict, edited = tmp_path / "strict.pbtxt", tmp_path / "edited.pbtxt"
    tfdv.write_schema_text(schema, str(strict))
    tfdv.get_domain(schema, "island").value.append("Atlantis")
    tfdv.write_schema_text(schema, str(edited))
    data_cases.write(root / "data", *data_cases.case_data("new_category", good))

    result, error = validate(settings(root, schema_file=str(strict)), "curated-strict")
    assert result["state"] != "COMPLETE"
    assert "column island: ENUM_TYPE_UNEXPECTED_STRING_VALUES" in error, error
    result, error = validate(settings(root, schema_file=str(edited)), "curated-edited")
    assert result["state"] == "COMPLETE", error
