"""A deploy's smoke test, run in the TFX environment (the pyfunc's runtime):

    python -m serving.smoke --model-uri models:/NAME/VERSION --url http://HOST:PORT [--rows N]
        [--wait-s S]

It loads the registered pyfunc in process, takes the first N rows saved with the version (its
input example: raw eval rows, as the pusher logs them), predicts them in process, waits up to S
seconds for URL/ping to answer (the deploy runs this half while the model server loads), POSTs
the same rows to URL/invocations (MLflow's serving input format, as MLflow writes it) and
compares the answers: classes and text exactly, numbers to 1e-6 relative. Prints one JSON
object: ok, why, the rows sent, the served and the in-process answers, and the seconds the
in-process half and the wait took.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import urllib.error
import urllib.request

REL_TOL = 1e-6


def same(a, b) -> bool:
    """Whether two JSON answers agree: numbers to REL_TOL, everything else exactly."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def in_process(model_uri: str, n: int):
    """(the serving request's JSON body, the in-process answers as JSON) for the first `n` rows
    of the version's input example."""
    import mlflow
    from mlflow.models import Model, convert_input_example_to_serving_input
    from mlflow.pyfunc.scoring_server import predictions_to_json

    local = mlflow.artifacts.download_artifacts(model_uri)
    rows = Model.load(local).load_input_example(local)
    if rows is None or len(rows) == 0:
        raise ValueError(f"{model_uri} was logged without rows (an input example) to test")
    rows = rows.head(n)
    answers = mlflow.pyfunc.load_model(local).predict(rows)
    out = _Buffer()
    predictions_to_json(answers, out)  # the scoring server's own serialization
    return convert_input_example_to_serving_input(rows), json.loads(out.text)["predictions"]


class _Buffer:
    def __init__(self):
        self.text = ""

    def write(self, s: str) -> None:
        self.text += s


def served(url: str, body: str, timeout_s: float = 120):
    request = urllib.request.Request(
        f"{url}/invocations", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        return json.loads(answer.read())["predictions"]


def answers_ping(url: str, wait_s: float) -> bool:
    """Whether URL/ping answers 200 within `wait_s` seconds (asked at least once)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=5) as answer:
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def check(model_uri: str, url: str, n: int, wait_s: float = 0) -> dict:
    started = time.monotonic()
    try:
        body, expected = in_process(model_uri, n)
    except Exception as e:  # noqa: BLE001 (reported: the version cannot be loaded)
        why = f"{type(e).__name__}: {str(e).strip().splitlines()[-1][:300] if str(e) else ''}"
        return {"ok": False, "why": f"the pyfunc did not load or predict in process ({why})"}
    loaded = time.monotonic()
    timing = {"in_process_s": round(loaded - started, 1)}
    if wait_s and not answers_ping(url, wait_s):
        return {"ok": False, "why": f"the model server did not answer /ping in {wait_s:.0f} s"}
    timing["waited_s"] = round(time.monotonic() - loaded, 1)
    try:
        got = served(url, body)
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")[:300]
        return {"ok": False, "why": f"the model server answered HTTP {e.code}: {text}"}
    except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
        return {"ok": False, "why": f"the model server did not answer: {e}"}
    result = {"rows": len(expected), "request": json.loads(body), "served": got, **timing}
    result["expected"] = expected
    if same(got, expected):
        return {"ok": True, "why": f"{len(expected)} rows answered as in process", **result}
    pairs = enumerate(zip(got, expected, strict=False))
    diff = next((i for i, (a, b) in pairs if not same(a, b)), None)
    where = f"row {diff}: {got[diff]} != {expected[diff]}" if diff is not None else "row count"
    return {"ok": False, "why": f"the served answers differ from the pyfunc's ({where})", **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.smoke", description=__doc__)
    parser.add_argument("--model-uri", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rows", type=int, default=5)
    parser.add_argument("--wait-s", type=float, default=0)
    args = parser.parse_args(argv)
    verdict = check(args.model_uri, args.url, args.rows, args.wait_s)
    print(json.dumps(verdict, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
