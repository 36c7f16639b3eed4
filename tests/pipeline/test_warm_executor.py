"""The warm executor is fork-safe: nothing in its own process starts TensorFlow's, gRPC's or
Beam's runtime (compiling runs in a child of its own), it checks that before every fork, and it
runs the node in a fresh process, saying why, when a fork would be unsafe."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from pipelines import warm_executor
from tests import foreign

REPO = Path(__file__).resolve().parents[2]


def request(path: str, payload: dict, timeout: float = 600) -> tuple[list[str], int]:
    """(the lines sent back, the exit status) for one request to the executor at `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((json.dumps(payload) + "\n").encode())
        lines = []
        with s.makefile("r", errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if line.startswith(warm_executor.EXIT_MARK):
                    return lines, int(line[len(warm_executor.EXIT_MARK) :])
                lines.append(line)
    raise AssertionError(f"no exit status; got {lines[-20:]}")


@pytest.fixture
def folder():
    # Unix socket paths are limited to ~100 bytes: a short folder, not tmp_path.
    path = tempfile.mkdtemp(prefix="wx-")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server(folder):
    """An executor's server in this process (no preload): the request handling alone."""
    srv = warm_executor.Server(str(folder / "x.sock"), idle_timeout_s=600)
    thread = threading.Thread(target=srv.serve_forever, name="warm-executor-test", daemon=True)
    thread.start()
    yield srv
    srv.stop()
    thread.join(10)


BAD_SETTINGS = ["--run-id", "r1", "--node", "Transform", "--settings", "{"]


def test_a_node_runs_in_a_forked_child(server, monkeypatch):
    monkeypatch.setattr(warm_executor, "runtime_started", lambda *_: None)
    lines, status = request(server.path, {"argv": BAD_SETTINGS})
    assert status == 2, lines
    assert lines[-1].startswith("RETRAIN ERROR permanent: bad settings:"), lines
    assert not any("not forking" in ln for ln in lines), lines


def test_an_unsafe_fork_runs_the_node_in_a_fresh_process(server, monkeypatch):
    monkeypatch.setattr(warm_executor, "runtime_started", lambda *_: "a test's reason")
    lines, status = request(server.path, {"argv": BAD_SETTINGS})
    assert status == 2, lines
    assert lines[0] == (
        "warm executor: not forking the node (a test's reason); running it in a fresh process"
    )
    assert lines[-1].startswith("RETRAIN ERROR permanent: bad settings:"), lines


def test_status_ping_and_stop(server):
    lines, status = request(server.path, {"cmd": "status"})
    state = json.loads(lines[0])
    assert status == 0 and state["running"] == 0 and "runtime" in state
    assert request(server.path, {"cmd": "ping"})[0][0].startswith("pong ")
    assert request(server.path, {"cmd": "stop"}) == ([], 0)


def test_the_probe_sees_threads_that_are_not_the_executors():
    baseline = frozenset(t.ident for t in threading.enumerate())
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="beam-worker-1", daemon=True)
    other.start()
    try:
        assert "beam-worker-1" in (warm_executor.runtime_started(baseline) or "")
    finally:
        stop.set()
        other.join()


PROBE = """
import json, sys, threading
from pipelines import run_node, warm_executor as w
out = {"start": w.runtime_started()}
import tensorflow as tf
base = frozenset(t.ident for t in threading.enumerate())
out["imported"] = w.runtime_started(base)
# A compile that runs TensorFlow (as task inference once did, reading TFRecords through it),
# pre-compiled the executor's way: the parent must stay clean and get the bytes back.
run_node.compiled_ir = lambda settings: tf.io.serialize_tensor(tf.constant([1, 2])).numpy()
server = w.Server(sys.argv[1], 60)
w._precompile(["--settings", sys.argv[2]], server)
out["compiled"] = [len(ir) for ir in run_node._IR_CACHE.values()]
out["after_compile"] = w.runtime_started(base)
_ = tf.constant(1) + 1
out["op"] = w.runtime_started(base)
import grpc
from concurrent import futures
grpc_server = grpc.server(futures.ThreadPoolExecutor(1))
grpc_server.add_insecure_port("127.0.0.1:0")
grpc_server.start()
out["grpc"] = w.runtime_started(base)
print("PROBE " + json.dumps(out))
"""


def test_the_probe_sees_tensorflow_and_grpc_start_and_compiling_leaves_no_trace(folder):
    settings = {"pipeline_root": str(folder / "r"), "metadata_path": str(folder / "m")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(folder / "x.sock"), json.dumps(settings)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    [line] = [ln for ln in out.stdout.splitlines() if ln.startswith("PROBE ")] or [out.stderr]
    found = json.loads(line[len("PROBE ") :])
    assert found["start"] is None and found["imported"] is None, found
    assert found["compiled"] and found["compiled"][0] > 0, (found, out.stderr[-3000:])
    assert found["after_compile"] is None, found
    assert "TensorFlow's runtime is initialized" in found["op"], found
    assert "gRPC's threads run" in found["grpc"], found


def test_a_tfrecord_pipeline_is_compiled_in_a_child_and_its_nodes_fork(folder):
    """Task inference reads the TFRecords (through TensorFlow, at one time): the executor's own
    process stays clean, and nodes forked from it run on the IR compiled once."""
    data = foreign.signals_tfrecords(folder / "signals", rows=90)
    (data / "dataset.json").unlink()  # a non-data file in the folder is another issue's part
    settings = {
        "data": str(data),
        "label": "label",
        "pipeline_root": str(folder / "root"),
        "metadata_path": str(folder / "metadata.sqlite"),
    }
    path = str(folder / "x.sock")
    log_path = folder / "executor.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.warm_executor", "--socket", path],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 600
        while not Path(path).exists():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(1)
        states = [json.loads(request(path, {"cmd": "status"})[0][0])]
        outputs = {}
        for node in ("ExampleGen", "PreviousSpanResolver"):
            argv = ["--run-id", "run-1", "--node", node, "--settings", json.dumps(settings)]
            lines, status = request(path, {"argv": argv})
            outputs[node] = "\n".join(lines)
            assert status == 0, outputs[node][-3000:]
            states.append(json.loads(request(path, {"cmd": "status"})[0][0]))
        request(path, {"cmd": "stop"})
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    executor_log = log_path.read_text(errors="replace")
    assert [s["runtime"] for s in states] == [None, None, None], (states, executor_log[-3000:])
    for out in outputs.values():
        assert '"state": "COMPLETE"' in out, out[-3000:]
        assert "not forking" not in out, out[-3000:]
    # compiled once, in a child; the node children used its IR (no wheel built again)
    assert executor_log.count("pipeline compiled in child") == 1, executor_log[-3000:]
    assert "bdist_wheel" not in outputs["PreviousSpanResolver"]
