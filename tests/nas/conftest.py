"""Shared helpers for the NAS engine's tests: input specs of every kind, small data (digits), a
search config with the settings the tests were written for, and a driver that runs an Oracle
through KerasTuner's create/update/end cycle without training."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nas.config import SearchConfig  # noqa: E402
from nas.data import ArrayData  # noqa: E402
from nas.inputs import Feature, InputSpec, from_arrays  # noqa: E402
from tests.data_cases import REPO  # noqa: E402

# The user's baseline model of docs/evaluation.md (Param baseline_module).
EXAMPLE = str(REPO / "examples" / "baseline_model.py")

SPECS = {
    "tabular": InputSpec((Feature("a", "numeric"), Feature("b", "categorical", 5)), 3),
    "signal": InputSpec((Feature("s", "signal", 16, (16, 1)),), 3),
    "image": InputSpec((Feature("i", "image", 64, (8, 8, 1)),), 4),
    "mixed": InputSpec(
        (
            Feature("i", "image", 64, (8, 8, 1)),
            Feature("a", "numeric"),
            Feature("b", "categorical", 5),
        ),
        4,
    ),
}
OBJECTIVE = keras_tuner.Objective("val_accuracy", "max")
# The engine's defaults the tests were written for: no learning-curve stop (and, where a test
# turns it on, one that acts from the first finished trial), no weight inheritance, no time
# budget (a budget no test reaches), the best single score wins (no re-evaluation). The
# product's defaults differ.
AS_WRITTEN = {
    "curve_stop": False,
    "curve_min_trials": 1,
    "curve_wait_share": 0.0,
    "inherit_weights": False,
    "time_budget_min": 1e6,
    "reevaluate_top": 1,
}


def batch(spec: InputSpec, n: int = 4, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for f in spec.features:
        if f.kind == "categorical":
            out[f.name] = rng.integers(0, f.size, (n, 1)).astype("int64")
        elif f.kind == "tokens":
            out[f.name] = rng.integers(0, f.size, (n, *f.shape)).astype("int64")
        elif f.kind == "numeric":
            out[f.name] = rng.normal(size=(n, 1)).astype("float32")
        else:
            out[f.name] = rng.normal(size=(n, f.size)).astype("float32")
    return out


def toy_reward(values: dict) -> float:
    """A deterministic score in (0, 1) with structure a strategy can learn."""
    keys = sorted(k for k in values if not k.startswith(("nas/", "tuner/")))
    h = sum((i + 1) * (len(str(values[k])) % 7) for i, k in enumerate(keys))
    return 0.5 + 0.4 * ((h % 97) / 97.0)


def drive(oracle, n: int, reward=toy_reward, tuner_id: str = "t0") -> list:
    """Run up to n trials the way KerasTuner's search loop does. Returns the trials created."""
    trials = []
    idle = 0
    while len(trials) < n:
        trial = oracle.create_trial(tuner_id)
        if trial.status == "STOPPED":
            break
        if trial.status == "IDLE":
            idle += 1
            assert idle < 100, "oracle stayed idle"
            continue
        oracle.update_trial(trial.trial_id, {"val_accuracy": reward(trial.hyperparameters.values)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        trials.append(trial)
    return trials


def oracle_in(tmp_path, strategy: str, space, name: str = "", **kw):
    """make_oracle(strategy, space, objective=OBJECTIVE, **kw), its project folder TMP_PATH/NAME
    (default: the strategy's name), where KerasTuner's search would have set it (the private
    `_set_project_dir`: called here only)."""
    from nas.strategies import make_oracle

    oracle = make_oracle(strategy, space, objective=OBJECTIVE, **kw)
    oracle._set_project_dir(str(tmp_path), name or strategy)
    return oracle


def load_digits():
    """scikit-learn's 8x8 digits (shipped inside the package), split and scaled."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = (d.data / 16.0).astype("float32")
    y = d.target.astype("int64")
    idx = np.random.default_rng(0).permutation(len(y))
    return x[idx], y[idx]


@pytest.fixture
def digits():
    return load_digits()


def small(digits, n_train=600, n_val=200, image=True):
    """(input spec, ArrayData) of digits: 8x8 images, or 64-long signals."""
    x, y = digits
    overrides = {"pixels": {"shape": [8, 8]}} if image else {"pixels": "signal"}
    spec = from_arrays({"pixels": x}, 10, overrides=overrides)
    data = ArrayData(
        ({"pixels": x[:n_train]}, y[:n_train]),
        ({"pixels": x[n_train : n_train + n_val]}, y[n_train : n_train + n_val]),
    )
    return spec, data


def config(**kw):
    """A small random search over the chain space (4 trials of 2 epochs), overridden by `kw`."""
    base = {"space": "chain", "strategy": "random", "max_trials": 4, "epochs": 2, "seed": 3}
    return SearchConfig.from_dict({**AS_WRITTEN, **base, **kw})
