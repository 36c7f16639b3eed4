"""The one door to KerasTuner's internals: every name the engine takes from `keras_tuner.src`,
and the gRPC pieces of KerasTuner's distributed mode, come from here.

KerasTuner 1.4 exports its oracles, `Trial` and `TrialStatus` publicly; they are re-exported
here from their public paths so the engine has one place to look. What has no public path (the
grid's `LinkedList`, the oracle's gRPC service and client) is imported from `keras_tuner.src`
here and nowhere else, so a KerasTuner upgrade that moves them breaks this file only.
"""

from __future__ import annotations

from keras_tuner import Oracle
from keras_tuner.engine.trial import Trial, TrialStatus
from keras_tuner.oracles import (
    BayesianOptimizationOracle,
    GridSearchOracle,
    HyperbandOracle,
    RandomSearchOracle,
)
from keras_tuner.src.tuners.gridsearch import LinkedList

__all__ = [
    "BayesianOptimizationOracle",
    "GridSearchOracle",
    "HyperbandOracle",
    "LinkedList",
    "Oracle",
    "RandomSearchOracle",
    "Trial",
    "TrialStatus",
    "serve_oracle",
    "set_client_timeout",
]


def serve_oracle(oracle, host: str, port: int = 0):
    """Serve `oracle` over gRPC with KerasTuner's `OracleServicer`; returns (server, bound port).
    Stop it with `server.stop(grace)`."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    protos.get_service_grpc().add_OracleServicer_to_server(OracleServicer(oracle), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise RuntimeError(f"cannot serve the NAS oracle on {host}:{port}")
    server.start()
    return server, bound


def set_client_timeout(seconds: float) -> None:
    """How long KerasTuner's gRPC oracle client waits for the chief on each call."""
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = seconds
