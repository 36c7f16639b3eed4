"""One registered version served by MLflow's own scoring server, in one Python process (run in
the TFX environment, the pyfunc's runtime; backend.py starts it):

    python -m serving.model_server --model-uri models:/NAME/VERSION --host 127.0.0.1 --port PORT

`mlflow models serve -m URI --env-manager local -w 1` starts the MLflow CLI, which downloads the
artifacts, then runs `exec uvicorn ... mlflow.pyfunc.scoring_server.app:app` through bash: a
second Python, which imports MLflow again, then TensorFlow, and loads the model. This serves the
same app (mlflow.pyfunc.scoring_server.init on the model loaded with
load_model_with_mlflow_config, as that module's app.py does) with uvicorn in the process that
downloaded the artifacts: one interpreter and one MLflow import fewer, the same /ping,
/invocations, /health and /version, the same request timeout (MLflow's
MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.model_server", description=__doc__)
    parser.add_argument("--model-uri", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    import uvicorn
    from mlflow.pyfunc import scoring_server
    from mlflow.tracking.artifact_utils import _download_artifact_from_uri

    local = _download_artifact_from_uri(args.model_uri)  # what `mlflow models serve` does
    print(f"model_server: {args.model_uri} downloaded to {local}", flush=True)
    app = scoring_server.init(scoring_server.load_model_with_mlflow_config(local))
    print(f"model_server: {args.model_uri} loaded; serving on {args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
