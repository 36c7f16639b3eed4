"""Your own model as a baseline: a Python file with `build_model(hp, input_spec)` competes with
the search's candidates on the same data, fidelity and budget, as the leaderboard row
"baseline". If it wins, the Trainer rebuilds it from the same file.

`hp` is a KerasTuner `HyperParameters`: values you declare on it take their defaults and are
saved with the row, so the Trainer rebuilds the same model. `input_spec` is the search's
`InputSpec` (nas/inputs.py): one feature per model input, with `.name`, `.kind`
("numeric", "categorical", "signal", "image", "tokens": free text as word ids, 0 the
padding), `.size` (vocabulary size or length) and `.shape`, plus `.n_outputs` classes.
Return a Keras 3 model whose inputs are named after the features and whose output is the
class probabilities. If it is not compiled, it is compiled with Adam, sparse categorical
cross-entropy and accuracy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os

import keras
import keras_tuner

from nas.candidate import Candidate

BASELINE_ID = "baseline"
MODULE_KEY = "nas/user_module"  # in the winner's hyperparameters when the baseline won


class BaselineError(ValueError):
    """The baseline module cannot be used; the message says why."""


def load(path: str):
    """The module at `path`, checked for a `build_model` function."""
    if not os.path.isfile(path):
        raise BaselineError(f"baseline module {path} is not a file")
    digest = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:10]
    spec = importlib.util.spec_from_file_location(f"nas_baseline_{digest}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's code: any error, named with its file
        raise BaselineError(f"baseline module {path} failed to import: {e!r}") from e
    if not callable(getattr(module, "build_model", None)):
        raise BaselineError(f"baseline module {path} has no build_model(hp, input_spec) function")
    return module


def build(path: str, input_spec, hp: keras_tuner.HyperParameters | None = None):
    """(model, hp): the user's model, compiled, and the hyperparameters it declared."""
    hp = hp or keras_tuner.HyperParameters()
    try:
        model = load(path).build_model(hp, input_spec)
    except BaselineError:
        raise
    except Exception as e:
        raise BaselineError(f"build_model in {path} failed: {e!r}") from e
    if not isinstance(model, keras.Model):
        raise BaselineError(
            f"build_model in {path} returned {type(model).__name__}, not a Keras 3 keras.Model"
        )
    if model.optimizer is None:
        from nas import task

        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), **task.get(input_spec.task).compile_args()
        )
    return model, hp


def winner_hyperparameters(path: str, hp: keras_tuner.HyperParameters):
    """The hyperparameters the Trainer gets when the baseline wins: the user's plus the path."""
    out = keras_tuner.HyperParameters.from_config(hp.get_config())
    out.Fixed(MODULE_KEY, os.path.abspath(path))
    return out


def module_of(values: dict) -> str:
    """The baseline module's path if these hyperparameter values are the baseline's, else ""."""
    return values.get(MODULE_KEY) or ""


class UserModel(Candidate):
    """The user's model as a fixed candidate of the search (trial id "baseline"): trained by the
    trial runner like the strategy's trials, from scratch, on the same data, fidelity, epochs
    and budget. Its row names the module and keeps the hyperparameters it declared."""

    def __init__(self, path: str):
        super().__init__(BASELINE_ID, searched=False)
        self.path = path
        self.hp = keras_tuner.HyperParameters()

    def build(self, space, steps: int = 0):
        model, self.hp = build(self.path, space.input_spec)
        return model

    def row_fields(self, space) -> dict:
        return {
            "summary": f"your model: {os.path.basename(self.path)}",
            "user_module": os.path.abspath(self.path),
            "hyperparameters": self.hp.get_config(),
        }

    def missing_objective(self, objective: str) -> Exception:
        return BaselineError(
            f"the baseline model reported no {objective}: compile it with "
            f"metrics=['accuracy'] or leave it uncompiled ({self.path})"
        )
