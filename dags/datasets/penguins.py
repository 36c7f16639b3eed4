"""Airflow DAGs of one dataset: this file's name is the dataset's. It builds retrain_NAME (on
the definition's schedule) and retrain_NAME_on_data (on its Asset) from datasets/NAME.json.

Written by `python -m core.datasets --sync`; every loader is this same file. One per dataset
because Airflow records import errors per DAG file: a bad definition breaks only its own DAGs.
"""

from retrain_support.dataset_dags import dataset_dags

scheduled, on_data = dataset_dags(__file__)
