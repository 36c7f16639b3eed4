"""A long-lived process in the TFX environment that runs pipeline nodes without re-importing TFX.

    python -m pipelines.warm_executor --socket PATH

It imports the TFX stack once, then listens on a Unix socket. Each request is one JSON line,
`{"argv": [...]}`, holding the node runner's own arguments. For each request it forks a child
that runs `pipelines.run_node.main(argv)` with its stdout and stderr on the connection, so the
node's log streams back to the caller. When the child exits, the executor sends one last line,
`\\0EXIT <status>`. A child per node keeps nodes isolated: a crash or `kill -9` of the child
fails that node only, and memory is returned after every node.

`{"cmd": "stop"}` stops the executor, and so does an idle spell of `--idle-timeout-s` seconds
with no node running (default 1800, or $RETRAIN_EXECUTOR_IDLE_S), so an executor whose DAG run
was killed before its teardown does not linger. Nothing here is specific to Airflow.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time

EXIT_MARK = "\0EXIT "

log = logging.getLogger("warm_executor")


def preload() -> None:
    """Import what the nodes need, once. This is the cost a fresh process pays per node."""
    import keras  # noqa: F401
    import keras_tuner  # noqa: F401
    import mlflow  # noqa: F401
    import tensorflow_data_validation  # noqa: F401
    import tensorflow_model_analysis  # noqa: F401
    import tensorflow_transform  # noqa: F401
    from tfx import components  # noqa: F401
    from tfx.dsl.compiler import compiler  # noqa: F401
    from tfx.orchestration.portable import launcher  # noqa: F401

    from pipelines import run_node  # noqa: F401


def _child(conn: socket.socket, argv: list[str], server: Server) -> None:
    """In the forked child: the node runner with stdout/stderr on the connection."""
    status = 1
    try:
        server.sock.close()
        fd = conn.fileno()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        from pipelines import run_node

        status = run_node.main(argv)
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 1
    except BaseException:  # the node's traceback goes to the caller's log
        import traceback

        traceback.print_exc()
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


_compile_lock = threading.Lock()


def _precompile(argv: list[str]) -> None:
    """Compile the pipeline in the executor itself, so every forked node inherits the IR cache
    (compiling builds the user-module wheel). Any error is left for the node to report."""
    from pipelines import run_node
    from pipelines.settings import Settings

    try:
        settings = Settings.from_json(argv[argv.index("--settings") + 1])
        with _compile_lock:
            run_node.compile_pipeline(settings)
    except Exception as e:  # noqa: BLE001
        log.info("pre-compile skipped (%s); the node will compile and report", e)


def _handle(conn: socket.socket, server: Server) -> None:
    with conn:
        request = json.loads(conn.makefile("r").readline() or "{}")
        if request.get("cmd") == "stop":
            server.unlink()  # no new connections from here on
            conn.sendall(f"{EXIT_MARK}0\n".encode())
            server.stop()
            return
        if request.get("cmd") == "ping":
            conn.sendall(f"pong {os.getpid()}\n{EXIT_MARK}0\n".encode())
            return
        argv = [str(a) for a in request.get("argv", [])]
        _precompile(argv)
        server.busy(+1)
        pid = os.fork()
        if pid == 0:
            _child(conn, argv, server)
        log.info("node child %d started: %s", pid, " ".join(argv[:4]))
        _, raw = os.waitpid(pid, 0)
        if os.WIFSIGNALED(raw):
            status = 128 + os.WTERMSIG(raw)
            msg = f"node process {pid} was killed by signal {os.WTERMSIG(raw)}\n"
        else:
            status, msg = os.WEXITSTATUS(raw), ""
        server.busy(-1)
        log.info("node child %d exited with %d", pid, status)
        try:
            conn.sendall(f"{msg}{EXIT_MARK}{status}\n".encode())
        except OSError:
            log.warning("caller of child %d went away before its exit status", pid)


class Server:
    """The Unix socket the executor listens on, with its count of running nodes and the idle
    timer that stops it."""

    def __init__(self, path: str, idle_timeout_s: float = 1800):
        self.path = path
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running = 0
        self._idle_since = time.monotonic()
        self.idle_timeout_s = idle_timeout_s
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)

    def busy(self, delta: int) -> None:
        with self._lock:
            self._running += delta
            self._idle_since = time.monotonic()

    def _watch_idle(self) -> None:
        while not self._stopping.wait(1.0):
            with self._lock:
                idle = time.monotonic() - self._idle_since if self._running == 0 else 0.0
            if idle > self.idle_timeout_s:
                log.info("idle for %.0fs with no node running: stopping", idle)
                self.stop()

    def unlink(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)

    def stop(self) -> None:
        self._stopping.set()
        self.unlink()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def serve_forever(self) -> None:
        threading.Thread(target=self._watch_idle, daemon=True).start()
        while not self._stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                break
            threading.Thread(target=_handle, args=(conn, self), daemon=True).start()
        self.sock.close()
        self.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.warm_executor")
    parser.add_argument("--socket", required=True, help="Unix socket path to listen on")
    parser.add_argument(
        "--idle-timeout-s",
        type=float,
        default=float(os.environ.get("RETRAIN_EXECUTOR_IDLE_S", "1800")),
        help="stop after this long with no node running",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    t0 = time.monotonic()
    preload()
    server = Server(args.socket, args.idle_timeout_s)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    log.info(
        "ready on %s after %.1fs of imports (pid %d)",
        args.socket,
        time.monotonic() - t0,
        os.getpid(),
    )
    server.serve_forever()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
