# The Airflow image: Airflow 3 and the MLflow server (Python 3.11, from requirements-airflow.lock),
# our DAGs with the settings contract and the dataset definitions they read, and, from the
# pipeline image it builds on, the TFX environment at /opt/tfx. So its scheduler can run pipeline
# nodes itself (the compose stack's Celery workers), or start each node in its own container
# (RETRAIN_CONTAINERS, dags/retrain_support/containers.py). It also runs the MLflow server and
# the stack's one-time setup (stack/mlflow_server.py, stack/airflow_init.py).
#
#   docker build -f docker/airflow.Dockerfile --build-arg PIPELINE_IMAGE=retrain-pipeline:1.0 \
#     -t retrain-airflow:1.0 .
ARG PIPELINE_IMAGE=retrain-pipeline:1.0
FROM ${PIPELINE_IMAGE}

USER 0
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/app/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PATH=/opt/airflow-env/bin:/opt/tfx/bin:$PATH

COPY requirements-airflow.lock /tmp/requirements-airflow.lock
RUN uv python install 3.11 \
 && uv venv --python 3.11 /opt/airflow-env \
 && uv pip sync --python /opt/airflow-env/bin/python /tmp/requirements-airflow.lock \
 && rm -f /tmp/requirements-airflow.lock \
 && mkdir -p /opt/airflow \
 && chown retrain:0 /opt/airflow

WORKDIR /app
COPY --chown=retrain:0 dags dags
# The DAG imports the settings contract (core/settings.py) and the engine's declarations it reads
# (stdlib-only modules of nas/). From this checkout, not the pipeline image's: the Params must be
# the contract of the DAG beside them, whichever pipeline image this is built on.
COPY --chown=retrain:0 core core
COPY --chown=retrain:0 nas nas
# The dataset definitions (datasets/NAME.json) that dags/datasets/NAME.py turns into DAGs; their
# data folders are under /app/data (compose mounts RETRAIN_DATA_DIR there).
COPY --chown=retrain:0 datasets datasets
# The production stack's setup and the MLflow server's wrapper (compose.yaml runs them).
COPY --chown=retrain:0 stack stack
COPY --chown=retrain:0 plugins plugins
USER 50000
RUN airflow version
