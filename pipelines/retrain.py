"""The retraining pipeline: ingest, validate, transform, search, train, evaluate, push.

`create_pipeline(Settings)` builds the TFX pipeline from plain settings. The Airflow DAG passes
those settings as JSON (its Params) to the node runner, which compiles this same pipeline in
every task, so every node of one run sees the same definition.
"""

from __future__ import annotations

import json
import logging
import os

from core import columns
from pipelines.settings import Settings

__all__ = ["SEARCH_NODE", "create_pipeline"]

# The search's node: the chief of a parallel search, whose workers the node runner starts.
SEARCH_NODE = "Tuner"


# Data settings a data folder's dataset.json may give too (the settings win when set).
DATA_SETTINGS = ("classes", "categorical_features", "feature_shapes", "missing_tokens")
DATA_SETTINGS += (*columns.COLUMN_KEYS, "text_ngrams")


def data_config(s: Settings, data: str, task) -> tuple[dict, dict]:
    """(What Transform needs to know of the data beyond its types (the user module's
    custom_config): the label, the task's encoding with the classes, the tensor features'
    shapes, the integer categoricals, the columns to leave out, hash or read as time
    (pipelines/task.py and pipelines/data_checks.py read what is not declared); ExampleGen's
    cleaning of the rows)."""
    from core import settings as contract
    from core import tasks
    from pipelines import data_checks
    from pipelines import task as data_task

    manifest = data_task.manifest(data)
    declared = {}
    for name in DATA_SETTINGS:  # the setting when not left at its default, else the folder's
        value, default = getattr(s, name), contract.SETTINGS[name].default_value()
        if not value or value == default:
            value = manifest.get(name) or default
        bad = contract.SETTINGS[name].problems(value)
        if bad:
            raise data_task.DataError(f"{data}/{data_task.MANIFEST}: {'; '.join(bad)}")
        declared[name] = value
    clean = data_checks.cleaning(data, s.label, declared, s.max_unlabelled_share, s.split_column)
    classes: list = []
    if task.name == tasks.CLASSIFICATION.name:
        classes, why = data_task.classes(data, s.label, declared["classes"])
        logging.info("classes of %r: %s (%s)", s.label, classes[:20], why)
    _judgeable(s, data, task, classes)
    features = data_task.feature_config(
        data, s.label, declared["feature_shapes"], declared["categorical_features"]
    )
    sorts = {key: clean[key] for key in columns.COLUMN_KEYS}
    config = {"label": s.label, **task.user_config(classes), **features, **sorts}
    config["text_ngrams"] = declared["text_ngrams"]
    return config, clean["example_gen"]


def _judgeable(s: Settings, data: str, task, classes: list) -> None:
    """Refuse, before anything is trained, a label with one value or a test split too small for
    the gate to tell any model from the trivial baseline (core/gate.py `refusal`)."""
    from core import gate, metrics, tasks
    from pipelines import task as data_task

    try:
        values = [v for v in data_task.label_column(data, s.label).values if v is not None]
    except data_task.TaskError:
        values = []
    if not values:
        return  # no such column, no values, unreadable: ExampleGen or the validator names it
    if task.name == tasks.CLASSIFICATION.name:
        index = {tasks.class_key(c): i for i, c in enumerate(classes)}
        labels = [index[k] for k in map(tasks.class_key, values) if k in index]
    else:
        labels = [float(v) for v in values]
    family = metrics.kind(task.name, len(classes))
    why = gate.refusal(family, labels, test_share(s, data), s.gate_metric, classes or None)
    if why:
        raise data_task.DataError(f"{data}: label {s.label!r}: {why}")


def _single_split(pattern: str):
    """All files matching `pattern` form one input, which ExampleGen splits (`split_output`)."""
    from tfx.proto import example_gen_pb2

    return example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="single_split", pattern=pattern)]
    )


def split_output(s: Settings):
    """ExampleGen's output: train / validation / test by a hash of the row, in the settings'
    shares (core/splits.py: which split serves what)."""
    from tfx.proto import example_gen_pb2

    from core import splits

    ratios = dict(s.split_ratios) or splits.DEFAULT_RATIOS
    return example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=int(ratios[name]))
                for name in splits.SPLITS
            ]
        )
    )


def test_share(s: Settings, data: str) -> float:
    """The test split's expected share of the rows: its hash buckets' share, or the share of
    rows whose `split_column` says test."""
    from core import splits
    from pipelines import task as data_task

    if s.split_column:
        try:
            values = data_task.label_column(data, s.split_column).values
        except data_task.TaskError:
            return 0.0
        said = [str(v).strip().lower() for v in values if v is not None]
        return said.count(splits.TEST) / max(len(values), 1)
    ratios = dict(s.split_ratios) or splits.DEFAULT_RATIOS
    return ratios[splits.TEST] / sum(ratios.values())


def create_pipeline(s: Settings):
    """The TFX pipeline for settings `s`. Imports TFX lazily: only the node runner calls this."""
    from tfx.components import (
        CsvExampleGen,
        ImportExampleGen,
        SchemaGen,
        StatisticsGen,
        Trainer,
        Transform,
    )
    from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
    from tfx.dsl.components.common import resolver
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.proto import trainer_pb2
    from tfx.types import Channel, standard_artifacts

    from components.data_validator.component import DataValidator
    from components.data_validator.previous import PreviousSpanStrategy
    from components.mlflow_pusher.champion import ChampionModelStrategy
    from components.mlflow_pusher.component import MlflowPusher
    from components.model_gate.component import ModelGate
    from components.nas_tuner.component import NasTuner
    from core import names, splits, tasks
    from pipelines import metadata_config
    from pipelines import task as data_task

    data = s.data_folder()
    if not os.path.isdir(data):
        raise FileNotFoundError(f"data location {data} is not a directory")
    module_file = s.path(s.module_file)
    name, why = s.resolved_task()
    logging.info("task: %s (%s)", name, why)
    task = tasks.get(name)
    search = s.search_config(task.name)
    # The user module's custom_config, complete: it has no defaults of its own.
    transform_config, cleaning = data_config(s, data, task)
    # The tensor features' kinds and shapes for the search, from the same data settings.
    shapes = transform_config["feature_shapes"]
    search["input_overrides"] = {**data_task.input_overrides(shapes), **search["input_overrides"]}
    training = {
        **transform_config,
        "edge_export": s.edge_export,
        "epochs": s.epochs,
        "train_epochs": s.train_epochs,
        "steps_per_epoch": s.steps_per_epoch,
        "batch_size": s.batch_size,
        "seed": s.seed,
        "decision_threshold": s.decision_threshold,
        "class_weight": s.class_weight,
        "nas": search,
    }
    tracking_uri, artifact_location = s.tracking()

    files = data_task.data_files(data)  # the data files only: never dataset.json or a README
    output = split_output(s)
    if s.split_column or cleaning or files.kind == "parquet":
        from components.example_gen.component import cleaning_example_gen

        example_gen = cleaning_example_gen(
            files.kind, data, _single_split(files.pattern), output, s.split_column, cleaning
        )
    elif files.kind == "tfrecord":
        example_gen = ImportExampleGen(
            input_base=data, input_config=_single_split(files.pattern), output_config=output
        )
    else:
        example_gen = CsvExampleGen(
            input_base=data, input_config=_single_split(files.pattern), output_config=output
        )
    example_gen = example_gen.with_id("ExampleGen")
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    if s.schema_file:
        schema_file = s.path(s.schema_file)
        if not os.path.isfile(schema_file):
            raise FileNotFoundError(f"schema_file {schema_file} is not a file")
        schema_gen = ImportSchemaGen(schema_file=schema_file).with_id("SchemaGen")
    else:
        schema_gen = SchemaGen(
            statistics=statistics_gen.outputs["statistics"], infer_feature_shape=False
        )
    # The last accepted data from the same folder: drift reference and reference schema.
    previous = resolver.Resolver(
        strategy_class=PreviousSpanStrategy,
        config={"data_source": s.data_source()},
        statistics=Channel(type=standard_artifacts.ExampleStatistics),
        schema=Channel(type=standard_artifacts.Schema),
    ).with_id("PreviousSpanResolver")
    example_validator = DataValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        previous_statistics=previous.outputs["statistics"],
        previous_schema=previous.outputs["schema"],
        label=s.label,
        data_source=s.data_source(),
        drift=json.dumps(s.drift(), sort_keys=True),
        allow=json.dumps(list(s.allowed_anomalies)),
        curated_schema=int(bool(s.schema_file)),
        tracking_uri=tracking_uri if s.data_profile else "",
        artifact_location=artifact_location,
        experiment=s.data_experiment,
        profile=int(s.data_profile),
    ).with_id("ExampleValidator")
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        module_file=module_file,
        custom_config=transform_config,
    )
    transform.add_upstream_node(example_validator)  # nothing is transformed before the gate
    # The registry's @champion, mapped back to its ML Metadata Model artifact.
    champion = resolver.Resolver(
        strategy_class=ChampionModelStrategy,
        config={
            "registered_model_name": s.registered_model_name,
            "tracking_uri": tracking_uri,
            # Only a champion of the same label and columns is this run's baseline.
            "label": s.label,
            "schema": names.columns_fingerprint(
                [c for c in data_task.columns(data) if c != s.split_column], s.label, shapes
            ),
        },
        model=Channel(type=standard_artifacts.Model),
    ).with_id("ChampionResolver")
    # Search state outside TFX's output directories, keyed by run and node inside.
    tuner = NasTuner(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        statistics=statistics_gen.outputs["statistics"],
        search_config=json.dumps(search, sort_keys=True),
        label=s.label,
        steps_cap=s.steps_per_epoch,
        state_root=s.nas_state_root,
        tracking_uri=tracking_uri,
        artifact_location=artifact_location,
        experiment=s.nas_experiment,
        champion_model=champion.outputs["model"],
        mode=s.mode,
        promote=s.promote_trial,
    ).with_id(SEARCH_NODE)
    trainer = Trainer(
        module_file=module_file,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        hyperparameters=tuner.outputs["best_hyperparameters"],
        base_model=tuner.outputs["best_model"],  # warm start from the search's best weights
        # Steps are the user module's: an epoch is a pass over `train` (pipelines/training.py).
        train_args=trainer_pb2.TrainArgs(splits=[splits.TRAIN]),
        eval_args=trainer_pb2.EvalArgs(splits=[splits.EARLY_STOPPING]),
        custom_config=training,
    )
    gate = {
        "task": task.name,
        "label": s.label,
        "metric": s.gate_metric,
        "min": s.gate_min if s.gate_min else None,
        # @champion's own gate record (its version's tags): how learnable its rows were.
        "learnable_share": s.gate_learnable_share,
        "registered_model_name": s.registered_model_name,
        "tracking_uri": tracking_uri,
    }
    evaluator = ModelGate(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=champion.outputs["model"],  # TFX's name for what it compares with
        gate=json.dumps(gate, sort_keys=True),
    ).with_id("Evaluator")
    pusher = MlflowPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        evaluation=evaluator.outputs["evaluation"],
        transform_graph=transform.outputs["transform_graph"],
        examples=example_gen.outputs["examples"],
        hyperparameters=tuner.outputs["best_hyperparameters"],
        champion_model=champion.outputs["model"],
        registered_model_name=s.registered_model_name,
        tracking_uri=tracking_uri,
        artifact_location=artifact_location,
        lineage=json.dumps(s.lineage, sort_keys=True),
        label=s.label,
        task=task.name,
        explain=int(s.explain),
        edge=int(s.edge_export),
        feature_shapes=json.dumps(shapes, sort_keys=True),
        promotion=s.promotion,
    ).with_id("Pusher")
    components = [
        example_gen,
        statistics_gen,
        schema_gen,
        previous,
        example_validator,
        transform,
        champion,
        tuner,
        trainer,
        evaluator,
        pusher,
    ]
    return tfx_pipeline.Pipeline(
        pipeline_name=s.pipeline_name,
        pipeline_root=s.path(s.pipeline_root),
        components=components,
        enable_cache=True,
        metadata_connection_config=metadata_config.connection_config(s),
        beam_pipeline_args=list(s.beam_pipeline_args),
    )
