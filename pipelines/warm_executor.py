"""A long-lived process in the TFX environment that runs pipeline nodes without re-importing TFX.

    python -m pipelines.warm_executor --socket PATH

It imports the TFX stack once, then listens on a Unix socket. Each request is one JSON line,
`{"argv": [...]}`, holding the node runner's own arguments. For each request it forks a child
that runs `pipelines.run_node.main(argv)` with its stdout and stderr on the connection, so the
node's log streams back to the caller. When the child exits, the executor sends one last line,
`\\0EXIT <status>`. A child per node keeps nodes isolated: a crash or `kill -9` of the child
fails that node only, and memory is returned after every node.

Fork safety: TensorFlow's, gRPC's and Beam's runtimes start threads and take locks that do not
survive a fork (a child forked after TF ran an op can hang in its first op). So the executor
itself only imports: it never starts any of them. Compiling the pipeline (which may look at the
data, build the user-module wheel and build protos) runs in a child of its own, which hands the
IR bytes back; the node children inherit them. Before each fork the executor checks that no
such runtime has started in it (`runtime_started`); if one has, it does not fork but runs the
node in a fresh process, and says why in one line.

`{"cmd": "stop"}` stops the executor, and so does an idle spell of `--idle-timeout-s` seconds
with no node running (default 1800, or $RETRAIN_EXECUTOR_IDLE_S), so an executor whose DAG run
was killed before its teardown does not linger. `{"cmd": "ping"}` answers `pong <pid>`;
`{"cmd": "status"}` one JSON line (pid, nodes running, `runtime`: why forking is unsafe, or
null). Nothing here is specific to Airflow.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

EXIT_MARK = "\0EXIT "
REPO = Path(__file__).resolve().parents[1]
# The executor's own threads (the idle watch, one per connection); any other thread that
# appears after the imports belongs to a runtime that a fork would break.
OWN_THREADS = "warm-executor"
# Names Linux shows for gRPC core's threads (it names them; TensorFlow's are unnamed).
GRPC_THREADS = ("grpc_", "event_engine", "lifeguard", "default-executo", "resolver-execu")

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
        # Python's own streams on those descriptors, line-buffered, whatever they were before.
        sys.stdout = open(1, "w", buffering=1, errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, errors="replace", closefd=False)  # noqa: SIM115
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


def _native_thread_names() -> list[str]:
    names = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:  # not Linux
        return names
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names.append(f.read().strip())
        except OSError:  # the thread just ended
            pass
    return names


def runtime_started(baseline: frozenset[int] = frozenset()) -> str | None:
    """Why forking this process now is unsafe, or None: TensorFlow's runtime is initialized
    (its eager context has a handle: any op, tf.data or tf.io read has run), gRPC's threads
    run (a channel or server was made), or threads other than the executor's own and those in
    `baseline` (thread idents present after the imports) run, e.g. a Beam pipeline's."""
    reasons = []
    context = sys.modules.get("tensorflow.python.eager.context")
    if context is not None:
        ctx = context.context_safe()
        if ctx is not None and getattr(ctx, "_context_handle", None) is not None:
            reasons.append("TensorFlow's runtime is initialized in the executor")
    grpc = sorted({n for n in _native_thread_names() if n.startswith(GRPC_THREADS)})
    if grpc:
        reasons.append(f"gRPC's threads run in the executor ({', '.join(grpc)})")
    others = sorted(
        t.name
        for t in threading.enumerate()
        if t is not threading.main_thread()
        and t.ident not in baseline
        and not t.name.startswith(OWN_THREADS)
    )
    if others:
        reasons.append(f"threads not the executor's run in it ({', '.join(others)})")
    return "; ".join(reasons) or None


_compile_lock = threading.Lock()


def _precompile(argv: list[str], server: Server) -> None:
    """Compile the pipeline for these settings once, in a forked child, and keep the IR bytes,
    so every node child inherits them (compiling builds the user-module wheel) while this
    process never runs what compiling may run (TensorFlow reading data, for one). Any error is
    left for the node to report: it compiles itself when the IR is not cached."""
    from pipelines import run_node
    from pipelines.settings import Settings

    try:
        settings = Settings.from_json(argv[argv.index("--settings") + 1])
        key = run_node.ir_key(settings)
    except Exception as e:  # noqa: BLE001
        log.info("pre-compile skipped (%s); the node will compile and report", e)
        return
    with _compile_lock:
        if key in run_node._IR_CACHE:
            return
        ir = _compile_in_child(settings, server)
        if ir is not None:
            run_node.remember_ir(key, ir)


def _compile_in_child(settings, server: Server) -> bytes | None:
    """The serialized IR, compiled in a forked child and sent back through a pipe, or None."""
    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read)
            server.sock.close()
            from pipelines import run_node

            ir = run_node.compiled_ir(settings)
            with os.fdopen(write, "wb") as out:
                out.write(ir)
            status = 0
        except BaseException:  # noqa: BLE001 (the node compiles again and reports)
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    _, raw = os.waitpid(pid, 0)
    if not (os.WIFEXITED(raw) and os.WEXITSTATUS(raw) == 0 and data):
        log.info("pre-compile failed in child %d (%s); the node will compile and report", pid, raw)
        return None
    log.info("pipeline compiled in child %d", pid)
    return data


def _fork_node(conn: socket.socket, argv: list[str], server: Server) -> tuple[int, int]:
    """The node in a forked child; (pid, wait status)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(conn, argv, server)
    log.info("node child %d started: %s", pid, " ".join(argv[:4]))
    return pid, os.waitpid(pid, 0)[1]


def _fresh_node(conn: socket.socket, argv: list[str], why: str) -> tuple[int, int]:
    """The node in a fresh process (a fork would be unsafe); (pid, wait status)."""
    line = f"warm executor: not forking the node ({why}); running it in a fresh process"
    log.warning("%s", line)
    conn.sendall(f"{line}\n".encode())
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.run_node", *argv],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=conn.fileno(),
        stderr=subprocess.STDOUT,
    )
    log.info("node process %d started: %s", proc.pid, " ".join(argv[:4]))
    return proc.pid, os.waitpid(proc.pid, 0)[1]


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
        if request.get("cmd") == "status":
            state = {
                "pid": os.getpid(),
                "running": server.running,
                "runtime": runtime_started(server.baseline),
            }
            conn.sendall(f"{json.dumps(state)}\n{EXIT_MARK}0\n".encode())
            return
        argv = [str(a) for a in request.get("argv", [])]
        _precompile(argv, server)
        server.busy(+1)
        try:
            why = runtime_started(server.baseline)
            pid, raw = _fresh_node(conn, argv, why) if why else _fork_node(conn, argv, server)
        finally:
            server.busy(-1)
        if os.WIFSIGNALED(raw):
            status = 128 + os.WTERMSIG(raw)
            msg = f"node process {pid} was killed by signal {os.WTERMSIG(raw)}\n"
        else:
            status, msg = os.WEXITSTATUS(raw), ""
        log.info("node process %d exited with %d", pid, status)
        try:
            conn.sendall(f"{msg}{EXIT_MARK}{status}\n".encode())
        except OSError:
            log.warning("caller of node process %d went away before its exit status", pid)


class Server:
    """The Unix socket the executor listens on, with its count of running nodes and the idle
    timer that stops it."""

    def __init__(self, path: str, idle_timeout_s: float = 1800):
        self.path = path
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running = 0
        self._idle_since = time.monotonic()
        # Threads present once the imports are done (see runtime_started).
        self.baseline = frozenset(t.ident for t in threading.enumerate())
        self.idle_timeout_s = idle_timeout_s
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)

    @property
    def running(self) -> int:
        """Nodes running now."""
        with self._lock:
            return self._running

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
        threading.Thread(target=self._watch_idle, name=f"{OWN_THREADS}-idle", daemon=True).start()
        while not self._stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                break
            threading.Thread(
                target=_handle, args=(conn, self), name=f"{OWN_THREADS}-conn", daemon=True
            ).start()
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
    why = runtime_started(server.baseline)
    if why:  # the imports themselves started a runtime: every node will run in a fresh process
        log.warning("after the imports: %s", why)
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
