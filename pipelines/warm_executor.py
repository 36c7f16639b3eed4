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

Every node ends: a node child leads a process group of its own. When its caller's connection
closes before the node is done (the Airflow task timed out, was marked failed or was killed),
the executor kills that group; `stop` (and SIGTERM) kills the groups of all nodes still running.

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
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from core import processes
from pipelines.fork_safety import OWN_THREADS, runtime_started

EXIT_MARK = "\0EXIT "
REPO = Path(__file__).resolve().parents[1]

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
        os.setpgid(0, 0)  # a group of its own, so one killpg ends it with all it starts
        # The executor killed (kill -9, a lost host): SIGTERM, which ends this group (below).
        parent = os.getppid()
        processes.die_with_parent()
        if os.getppid() != parent:  # it died before the line above
            os._exit(1)
        server.sock.close()
        fd = conn.fileno()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        # Python's own streams on those descriptors, line-buffered, whatever they were before.
        sys.stdout = open(1, "w", buffering=1, errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, errors="replace", closefd=False)  # noqa: SIM115
        processes.end_group_on_sigterm()
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
    try:
        os.setpgid(pid, pid)  # the child does it too: whichever runs first
    except OSError:  # the child already did (and may have exec'd) or has ended
        pass
    log.info("node child %d started: %s", pid, " ".join(argv[:4]))
    return pid, _wait(conn, pid, server)


def _fresh_node(conn: socket.socket, argv: list[str], why: str, server: Server) -> tuple[int, int]:
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
        start_new_session=True,
    )
    log.info("node process %d started: %s", proc.pid, " ".join(argv[:4]))
    return proc.pid, _wait(conn, proc.pid, server)


def _hung_up(conn: socket.socket, poller: select.poll) -> bool:
    """Whether the caller closed its end (it sends nothing after its request)."""
    events = poller.poll(500)
    if not events:
        return False
    if any(e & (select.POLLHUP | select.POLLERR | select.POLLRDHUP) for _, e in events):
        return True
    try:
        return conn.recv(1024, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _wait(conn: socket.socket, pid: int, server: Server) -> int:
    """The node's wait status. If the caller goes away first, the node's group is killed."""
    server.children.add(pid)
    poller = select.poll()
    poller.register(conn, select.POLLIN | select.POLLHUP | select.POLLERR | select.POLLRDHUP)
    try:
        while True:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                processes.kill_group(pid)  # whatever the node left running
                return raw
            if _hung_up(conn, poller):
                log.warning("caller of node %d went away: killing its process group", pid)
                processes.kill_group(pid)
                return os.waitpid(pid, 0)[1]
    finally:
        server.children.discard(pid)


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
            if why:
                pid, raw = _fresh_node(conn, argv, why, server)
            else:
                pid, raw = _fork_node(conn, argv, server)
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
        self.children: set[int] = set()  # node processes running, each leading its group
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
        """Stops listening and ends every node still running, with its process group."""
        self._stopping.set()
        for pid in list(self.children):
            log.warning("stopping: killing node %d and its process group", pid)
            processes.kill_group(pid)
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
    # The log beside the socket (node_client's) goes with a clean stop, idle or asked for; a
    # crashed executor's stays for whoever looks into it.
    Path(args.socket).with_suffix(".log").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
