"""Whether forking the warm executor (pipelines/warm_executor.py) is safe now.

TensorFlow's, gRPC's and Beam's runtimes start threads and take locks that do not survive a
fork: a child forked after TensorFlow ran an op can hang in its first op. The executor asks
`runtime_started` before every fork, and runs the node in a fresh process when it answers.
"""

from __future__ import annotations

import sys
import threading

from core import processes

# The executor's own threads (the idle watch, one per connection); any other thread that
# appears after the imports belongs to a runtime that a fork would break.
OWN_THREADS = "warm-executor"
# Names Linux shows for gRPC core's threads (it names them; TensorFlow's are unnamed).
GRPC_THREADS = ("grpc_", "event_engine", "lifeguard", "default-executo", "resolver-execu")


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
    grpc = sorted({n for n in processes.thread_names() if n.startswith(GRPC_THREADS)})
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
