"""The in-process pyfunc on the bench's rows, for reference (run in the TFX environment):

    python bench/serving/inprocess.py models:/NAME/VERSION [--seconds 20] < serving_input.json

Loads the model with mlflow.pyfunc.load_model, then predicts the rows (MLflow's serving JSON,
`dataframe_split`, on stdin) in one thread for `--seconds`; prints p50/p99 (ms) and calls/s.
"""

import argparse
import json
import sys
import time

import mlflow.pyfunc
import pandas as pd

parser = argparse.ArgumentParser()
parser.add_argument("model_uri")
parser.add_argument("--seconds", type=float, default=20)
args = parser.parse_args()
split = json.load(sys.stdin)["dataframe_split"]
rows = pd.DataFrame(split["data"], columns=split["columns"])
model = mlflow.pyfunc.load_model(args.model_uri)
model.predict(rows)  # the first call traces the graph
times = []
end = time.monotonic() + args.seconds
while time.monotonic() < end:
    t0 = time.monotonic()
    model.predict(rows)
    times.append(time.monotonic() - t0)
times.sort()
print(
    json.dumps(
        {
            "calls": len(times),
            "p50_ms": round(times[len(times) // 2] * 1000, 1),
            "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))] * 1000, 1),
            "rps": round(len(times) / args.seconds, 1),
        }
    )
)
