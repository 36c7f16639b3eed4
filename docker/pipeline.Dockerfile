# The pipeline image: the TFX environment (Python 3.10, from requirements.lock) and the code that
# runs one pipeline node: `python -m pipelines.run_node --run-id R --node N --settings JSON`.
# Per-step containers (KubernetesPodOperator / DockerOperator) and the Airflow image build on it.
#
#   docker build -f docker/pipeline.Dockerfile -t retrain-pipeline:1.0 .
#   docker build -f docker/pipeline.Dockerfile --build-arg VARIANT=gpu -t retrain-pipeline:1.0-gpu .
#
# VARIANT=gpu adds tensorflow[and-cuda] at the locked TensorFlow version (CUDA and cuDNN wheels),
# with every other package held at its locked version.
FROM python:3.10.16-slim-bookworm

ARG VARIANT=cpu
ARG UV_VERSION=0.13.9
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_NO_CACHE=1 \
    VIRTUAL_ENV=/opt/tfx \
    PATH=/opt/tfx/bin:$PATH \
    RETRAIN_TFX_PYTHON=/opt/tfx/bin/python \
    RETRAIN_STATE_DIR=/state

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# --seed: TFX pip-installs the user-module wheel at run time, so the venv needs pip.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && uv venv --seed --python /usr/local/bin/python3.10 /opt/tfx \
 && uv pip sync --python /opt/tfx/bin/python /tmp/requirements.lock \
 && if [ "$VARIANT" = gpu ]; then \
      tf="$(/opt/tfx/bin/python -c 'import importlib.metadata as m; print(m.version("tensorflow"))')"; \
      grep -E '^[A-Za-z0-9_.-]+==' /tmp/requirements.lock | sed 's/ .*//' | grep -v '^tensorflow==' > /tmp/held.txt; \
      uv pip install --python /opt/tfx/bin/python -c /tmp/held.txt "tensorflow[and-cuda]==${tf}"; \
    elif [ "$VARIANT" != cpu ]; then echo "VARIANT must be cpu or gpu, not '$VARIANT'" >&2; exit 1; fi \
 && rm -f /tmp/requirements.lock /tmp/held.txt

RUN useradd --uid 50000 --gid 0 --create-home retrain \
 && mkdir -p /state /app \
 && chown retrain:0 /state /app

WORKDIR /app
COPY --chown=retrain:0 pipelines pipelines
COPY --chown=retrain:0 components components
COPY --chown=retrain:0 core core
COPY --chown=retrain:0 nas nas
COPY --chown=retrain:0 data data
COPY --chown=retrain:0 examples examples

USER 50000
VOLUME ["/state"]
# Fails fast, naming what is missing, if the environment is broken.
RUN python -m pipelines.check_env
CMD ["python", "-m", "pipelines.run_node", "--help"]
