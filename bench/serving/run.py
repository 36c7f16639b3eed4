"""The served champion under a bounded local load while the deployed version switches.

    .venv/airflow/bin/python bench/serving/run.py --tracking-uri URL --model NAME \
        [--versions 1,2] [--switches 3] [--threads 4] [--rest-s 20]

Starts the serving front (`python -m serving`, as `make stack` does) on a free port, which serves
the model's @champion by itself (else the first version is deployed), then drives `--threads`
client threads, each POSTing the same rows (the served version's input example, MLflow's serving
JSON) to the front's /invocations over a kept-alive
connection, while serving/deploy.py (the code deploy_new_model runs) deploys the versions in
turn `--switches` times: start beside, smoke test, switch, drain. Per switch: p50/p99 latency,
throughput and errors before (the `--rest-s` seconds before the deploy), during (the deploy:
the new server's start and smoke test, then the switch), around the switch itself (+-2 s) and
after (`--rest-s` seconds). Beside it, the in-process pyfunc on the same rows
(bench/serving/inprocess.py, in the TFX environment). Writes results.json beside this file.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from bench.common import stamp  # noqa: E402
from core import envs, waiting  # noqa: E402
from serving import deploy as serving_deploy  # noqa: E402
from serving.backend import free_port  # noqa: E402


class Load:
    """`threads` clients POSTing `body` to `port`/invocations until stopped; each request's
    (start, seconds, ok, version)."""

    def __init__(self, port: int, body: bytes, threads: int):
        self.port, self.body = port, body
        self.records: list[tuple[float, float, bool, str]] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(threads)]

    def client(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Content-Type": "application/json"}
        while not self.stopping.is_set():
            t0 = time.monotonic()
            try:
                conn.request("POST", "/invocations", body=self.body, headers=headers)
                answer = conn.getresponse()
                answer.read()
                ok, version = answer.status == 200, answer.getheader("X-Model-Version") or ""
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                ok, version = False, ""
            self.records.append((t0, time.monotonic() - t0, ok, version))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(150)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def window(records, start: float, end: float) -> dict:
    """Latency (ms), throughput and errors of the requests that started in [start, end)."""
    inside = [r for r in records if start <= r[0] < end]
    ok = [r[1] * 1000 for r in inside if r[2]]
    return {
        "seconds": round(_span(inside, start, end), 1) if inside else 0.0,
        "requests": len(inside),
        "errors": sum(1 for r in inside if not r[2]),
        "p50_ms": round(percentile(ok, 0.50), 1),
        "p99_ms": round(percentile(ok, 0.99), 1),
        "rps": round(len(inside) / _span(inside, start, end), 1) if inside else 0.0,
        "versions": sorted({r[3] for r in inside if r[3]}),
    }


def serving_now(port: int) -> str:
    """The version the front serves ('' for none)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/health", timeout=10) as answer:
        return json.loads(answer.read())["version"] or ""


def _span(records, start: float, end: float) -> float:
    """The window's length; an open window's: its requests' first start to last end."""
    if end != float("inf"):
        return end - start
    return max(r[0] + r[1] for r in records) - min(r[0] for r in records)


def in_process(model: str, version: str, body: str, seconds: float) -> dict:
    out = subprocess.run(
        [envs.tfx_python(), str(HERE / "inprocess.py"), f"models:/{model}/{version}"]
        + ["--seconds", str(seconds)],
        input=body,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--versions", default="1,2")
    parser.add_argument("--switches", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rest-s", type=float, default=20)
    args = parser.parse_args()
    from mlflow import MlflowClient

    versions = args.versions.split(",")
    port = free_port()
    env = dict(os.environ, MLFLOW_TRACKING_URI=args.tracking_uri, PYTHONPATH=str(REPO))
    env.update(RETRAIN_SERVING_URL=f"http://127.0.0.1:{port}", RETRAIN_SERVING_MODEL=args.model)
    os.environ.update(env)
    state = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    front = subprocess.Popen(
        [envs.AIRFLOW_PYTHON, "-m", "serving", "--state-dir", str(state)],
        env=env,
        cwd=REPO,
        stdout=open(state / "front.log", "w"),  # noqa: SIM115 (the child's)
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    result = {**stamp(), "model": args.model, "threads": args.threads, "switches": []}
    try:
        waiting.wait_until(lambda: waiting.answers(f"http://127.0.0.1:{port}/-/health"), 120)
        client = MlflowClient(args.tracking_uri)
        t = time.monotonic()
        # As `make stack`: the front serves the model's @champion by itself.
        if waiting.wait_until(lambda: serving_now(port), 900, every_s=2, quiet=True):
            result["champion_served_at_start_s"] = round(time.monotonic() - t, 1)
        else:
            serving_deploy.deploy(client, args.model, versions[0])
        first = serving_now(port)
        versions = [first, *[v for v in versions if v != first]]
        import mlflow

        local = mlflow.artifacts.download_artifacts(f"models:/{args.model}/{versions[0]}")
        body = (Path(local) / "serving_input_example.json").read_text()
        result["rows"] = len(json.loads(body)["dataframe_split"]["data"])
        result["in_process"] = in_process(args.model, versions[0], body, 20)
        # The front's own cost: the same load straight to the model server, then through it.
        backend = serving_deploy.Control().serving()["url"]
        for name, target in (("direct", int(backend.rsplit(":", 1)[1])), ("front", port)):
            with Load(target, body.encode(), args.threads) as load:
                time.sleep(args.rest_s)
            result[f"rest_{name}"] = window(load.records, 0, float("inf"))
        with Load(port, body.encode(), args.threads) as load:
            time.sleep(args.rest_s)
            for i in range(args.switches):
                version = versions[(i + 1) % len(versions)]
                start = time.monotonic()
                serving_deploy.deploy(client, args.model, version)
                switched = time.monotonic()
                time.sleep(args.rest_s)
                records = list(load.records)
                result["switches"].append(
                    {
                        "to": version,
                        "deploy_s": round(switched - start, 1),
                        "before": window(records, start - args.rest_s, start),
                        "during": window(records, start, switched),
                        "switch": window(records, switched - 2, switched + 2),
                        "after": window(records, switched, switched + args.rest_s),
                    }
                )
                print(json.dumps(result["switches"][-1]), flush=True)
        result["total_errors"] = sum(1 for r in load.records if not r[2])
        result["total_requests"] = len(load.records)
    finally:
        os.killpg(front.pid, signal.SIGTERM)
        front.wait(60)
    (HERE / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "switches"}))


if __name__ == "__main__":
    main()
