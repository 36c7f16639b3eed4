"""The two DAGs of one dataset definition (core/datasets.py), built by the shared wiring
(builder.py): `retrain_NAME` on the definition's schedule and `retrain_NAME_on_data` on its Asset,
with the definition's Param defaults, pipeline name, state directory and registered model.

Called from a loader in dags/datasets/ (NAME.py, one per definition): Airflow records import
errors per DAG file, so a bad definition fails only its loader, with one line naming the
definition file and the field (DatasetError).
"""

from __future__ import annotations

from pathlib import Path

from retrain_support import builder
from retrain_support.builder import datasets

DOC = """Retraining of the dataset defined in `{file}` (core/datasets.py): data `{data}`,
Asset `{asset}`, schedule `{schedule}`. Pipeline name `{name}`: its ML Metadata and pipeline
root under `$RETRAIN_STATE_DIR/datasets/{name}/`, its MLflow experiments `{name}-nas` and
`{name}-data`. An Asset-triggered run trains on the folder of the Asset that fired.
"""


def dataset_dags(loader: str) -> tuple:
    """(scheduled DAG, Asset-triggered DAG) of the dataset named as the `loader` file is."""
    try:
        dataset = datasets.named(Path(loader).stem)
    except datasets.DatasetError as e:
        raise datasets.DatasetError(str(e)) from None  # its line, not the checker's frames
    where = datasets.shown(dataset.file)
    try:
        asset = builder.data_asset(dataset.asset)
    except ValueError as e:
        raise datasets.DatasetError(f"{where}: field 'asset': {e}") from None
    scheduled_id, on_data_id = dataset.dag_ids
    dag_params = builder.params(dataset.params)
    for key, param in dag_params.items():  # Airflow's own check of each default (jsonschema)
        try:
            param.resolve()
        except Exception as e:
            raise datasets.DatasetError(f"{where}: field {key!r}: {e}") from None
    doc = DOC.format(
        file=where,
        data=dataset.data,
        asset=dataset.asset,
        schedule=dataset.schedule or "none",
        name=dataset.name,
    )
    try:
        scheduled = builder.build_retrain_dag(
            scheduled_id,
            dataset.schedule,
            dataset.description,
            doc=doc,
            dag_params=dag_params,
            dataset=dataset,
        )
        scheduled.timetable.validate()
    except Exception as e:  # the Params are valid: Airflow's word on the schedule
        raise datasets.DatasetError(f"{where}: field 'schedule': {e}") from None
    on_data = builder.build_retrain_dag(
        on_data_id,
        [asset],
        f"{dataset.description} (whenever its Asset is updated)",
        doc=doc,
        dag_params=dag_params,
        dataset=dataset,
    )
    return scheduled, on_data
