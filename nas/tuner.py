"""The trial runner: one KerasTuner Tuner subclass that every strategy and estimator shares.

For each trial it builds the candidate, prunes it if it breaks a limit, starts it from its
parent (inheritance or morphism) or from its own last epoch after a crash, trains it at the
search fidelity with curve-based early stopping, then records a leaderboard row, logs it to
MLflow and prints one progress line.

Crash safety: everything lives in the project directory (the caller keys it by pipeline run and
node, outside TFX's output directories). After every epoch the trial's weights and history are
checkpointed; a finished trial leaves `result.json`, so a resumed search never trains it again.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import zlib

import keras
import keras_tuner
import numpy as np
from keras_tuner.src.engine import trial as trial_module

from nas.device import DeviceInfo
from nas.encoding import Architecture
from nas.estimation import curve, halving, inherit, morph
from nas.estimation.fidelity import FULL
from nas.strategies.base import PRUNED

RESULT = "result.json"
INFLIGHT = "inflight.json"
LAST = "last.weights.h5"
OPTIMIZER = "last.optimizer.npz"
BEST = "best.weights.h5"
LEADERBOARD = "leaderboard.jsonl"


@dataclasses.dataclass
class SearchData:
    """Training and validation data: (features dict, labels) numpy pairs, or repeated tf.data
    datasets with `steps_per_epoch` / `validation_steps`."""

    train: object
    validation: object
    steps_per_epoch: int | None = None
    validation_steps: int | None = None

    @property
    def is_arrays(self) -> bool:
        return isinstance(self.train, tuple)

    def examples_per_epoch(self, fraction: float, batch_size: int) -> int:
        if self.is_arrays:
            return int(math.ceil(len(self.train[1]) * fraction))
        return self.steps(fraction) * batch_size

    def steps(self, fraction: float) -> int:
        return max(1, int(round(self.steps_per_epoch * fraction)))

    def fit_kwargs(self, fraction: float, batch_size: int) -> dict:
        if self.is_arrays:
            x, y = self.train
            n = int(math.ceil(len(y) * fraction))
            return dict(
                x={k: v[:n] for k, v in x.items()},
                y=y[:n],
                batch_size=batch_size,
                validation_data=self.validation,
                shuffle=True,
            )
        return dict(
            x=self.train,
            steps_per_epoch=self.steps(fraction),
            validation_data=self.validation,
            validation_steps=self.validation_steps,
        )

    def sample_batch(self, batch_size: int):
        if self.is_arrays:
            return {k: v[:batch_size] for k, v in self.validation[0].items()}
        for features, _ in self.validation.take(1):
            return features
        raise ValueError("the validation dataset is empty")


def _atomic_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, sort_keys=True, default=float)
    os.replace(tmp, path)


def _read_json(path: str):
    with open(path) as f:
        return json.load(f)


class _EpochCheckpoint(keras.callbacks.Callback):
    """After each epoch: the weights, the best weights and the history, written atomically."""

    def __init__(self, trial_dir: str, history: dict, monitor: str, maximize: bool):
        super().__init__()
        self.dir, self.history, self.monitor, self.maximize = trial_dir, history, monitor, maximize
        values = history.get(monitor, [])
        self.best = (max(values) if maximize else min(values)) if values else None

    def on_epoch_end(self, epoch, logs=None):
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        value = (logs or {}).get(self.monitor)
        tmp = os.path.join(self.dir, "tmp.weights.h5")
        if value is not None and (
            self.best is None or (value > self.best if self.maximize else value < self.best)
        ):
            self.best = float(value)
            self.model.save_weights(tmp)
            os.replace(tmp, os.path.join(self.dir, BEST))
        self.model.save_weights(tmp)
        os.replace(tmp, os.path.join(self.dir, LAST))
        save_optimizer(self.model, os.path.join(self.dir, OPTIMIZER))
        _atomic_json(
            os.path.join(self.dir, INFLIGHT), {"epoch": epoch + 1, "history": self.history}
        )


def save_optimizer(model, path: str) -> None:
    variables = model.optimizer.variables if model.optimizer is not None else []
    tmp = path + ".tmp.npz"
    np.savez(tmp, *[keras.ops.convert_to_numpy(v) for v in variables])
    os.replace(tmp, path)


def load_optimizer(model, path: str) -> bool:
    """Restore the optimizer's slots (Adam moments, iteration count) saved by save_optimizer."""
    if not os.path.exists(path) or model.optimizer is None:
        return False
    with np.load(path) as saved:
        arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    model.optimizer.build(model.trainable_variables)
    variables = model.optimizer.variables
    if len(variables) != len(arrays) or any(
        tuple(v.shape) != a.shape for v, a in zip(variables, arrays, strict=True)
    ):
        return False
    for v, a in zip(variables, arrays, strict=True):
        v.assign(a)
    return True


class _Budget(keras.callbacks.Callback):
    """Ends the trial after the epoch in which the search's time or compute budget runs out."""

    def __init__(self, oracle, per_epoch: int, seen: int = 0):
        super().__init__()
        self.oracle, self.per_epoch, self.seen, self.hit = oracle, per_epoch, seen, False

    def on_epoch_end(self, epoch, logs=None):
        self.seen += self.per_epoch
        left = self.oracle.time_left()
        compute = self.oracle.compute_left()
        if (left is not None and left <= 0) or (compute is not None and compute <= self.seen):
            self.hit = True
            self.model.stop_training = True


def _stopped_by(stopper, rungs, budget) -> str | None:
    """Why a trial ended before its last epoch, for the leaderboard (None: it did not)."""
    if stopper is not None and stopper.stopped_epoch:
        return f"curve at epoch {stopper.stopped_epoch}"
    if rungs is not None and rungs.stopped_epoch:
        return f"halving at epoch {rungs.stopped_epoch}"
    if budget.hit:
        return "budget"
    return None


def measure_latency_ms(model, batch, repeats: int = 5, kind: str = "keras") -> float:
    if kind == "tflite":  # TensorFlow only, imported when asked for
        from core.tflite import model_latency_ms

        return model_latency_ms(model, batch)
    model(batch, training=False)  # warm-up (tracing)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = model(batch, training=False)
        keras.ops.convert_to_numpy(out)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


class NASTuner(keras_tuner.Tuner):
    def __init__(
        self,
        oracle,
        space,
        config,
        *,
        directory,
        project_name="search",
        device=None,
        tracker=None,
        log=print,
        rendezvous: str = "",
        **kwargs,
    ):
        self.space, self.config, self.tracker, self.log = space, config, tracker, log
        self.device = device or DeviceInfo(keras.backend.backend(), [], "float32")
        self._search_started = time.time()
        self._trial_times: list[float] = []
        self.recorded: list[str] = []  # trial ids this process recorded (a parallel runner's)
        super().__init__(
            oracle=oracle,
            hypermodel=space,
            directory=directory,
            project_name=project_name,
            overwrite=False,
            **kwargs,
        )
        if self._is_worker():  # a parallel search: KerasTuner made the oracle a gRPC client
            from nas.distributed import WorkerOracle

            self.oracle = WorkerOracle(self.oracle, self.project_dir, rendezvous)
        self.oracle.compute_spent = self.compute_spent()

    # ---- bookkeeping --------------------------------------------------------------------
    @property
    def maximize(self) -> bool:
        return self.oracle.objective.direction == "max"

    def leaderboard_path(self) -> str:
        return os.path.join(self.project_dir, LEADERBOARD)

    def rows(self) -> list[dict]:
        """Leaderboard rows in the order trials started, one per trial (the last write wins)."""
        path = self.leaderboard_path()
        if not os.path.exists(path):
            return []
        by_id: dict[str, dict] = {}
        with open(path) as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    by_id[row["trial_id"]] = row
        order = {t: i for i, t in enumerate(self.oracle.start_order)}
        return sorted(by_id.values(), key=lambda r: (order.get(r["trial_id"], 1e9), r["trial_id"]))

    def compute_spent(self) -> int:
        """Example-epochs trained by the trials on the leaderboard."""
        return sum(r.get("examples_seen") or 0 for r in self.rows())

    def earlier_histories(self, trial_id: str) -> list[list[float]]:
        """The objective's per-epoch history of every other trial that finished training."""
        out = []
        for tid in self.oracle.start_order:
            path = os.path.join(self.get_trial_dir(tid), RESULT)
            if tid != trial_id and os.path.exists(path):
                out.append(_read_json(path)["history"].get(self.config.objective, []))
        return out

    def _record(self, row: dict, arch: Architecture | None, history: dict) -> None:
        self.recorded.append(row["trial_id"])
        with open(self.leaderboard_path(), "a") as f:
            f.write(json.dumps(row, sort_keys=True, default=float) + "\n")
        self.oracle.compute_spent = self.compute_spent()
        if self.tracker is not None:
            self.tracker.log_trial(row, arch.choices if arch else {}, history)
        self._progress(row)

    def _progress(self, row: dict) -> None:
        self._trial_times.append(row.get("wall_s") or 0.0)
        done = len(self.rows())
        total = (self.oracle.max_trials or done) + bool(self.config.baseline_module)
        best = self.oracle.best_score()
        if row.get("score") is not None:
            sign = 1 if self.maximize else -1
            best = row["score"] if best is None else max(best, row["score"], key=lambda s: sign * s)
        eta = np.mean(self._trial_times) * max(total - done, 0)
        left = self.oracle.time_left()
        if left is not None:
            eta = min(eta, max(left, 0))
        score = "-" if row.get("score") is None else f"{row['score']:.4f}"
        best_s = "-" if best is None else f"{best:.4f}"
        self.log(
            f"NAS trial {row['trial_id']} ({done}/{total}) strategy={self.config.strategy} "
            f"space={self.config.space} fidelity={row['fidelity']} status={row['status']} "
            f"score={score} best={best_s} params={row.get('params')} "
            f"epochs={row.get('epochs')} wall={row.get('wall_s', 0):.1f}s "
            f"ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}"
        )

    def _row(self, trial, arch, **fields) -> dict:
        values = trial.hyperparameters.values
        fid = self.space.fidelity
        parent = values.get("nas/parent") or values.get("tuner/trial_id")
        row = {
            "trial_id": trial.trial_id,
            "status": "completed",
            "score": None,
            "params": None,
            "latency_ms": None,
            "summary": self.space.describe(arch) if arch else "",
            "fidelity": fid.label(),
            "epochs": 0,
            "examples_seen": 0,
            "wall_s": 0.0,
            "early_stopped": False,
            "parent": parent,
            "mutation": values.get("nas/mutation"),
            "architecture": arch.to_json() if arch else None,
            "runner": self.tuner_id,
            "seed": values.get("nas/seed"),
        }
        row.update(fields)
        return row

    # ---- one trial ----------------------------------------------------------------------
    def _seed(self, trial_id: str) -> int:
        return zlib.crc32(f"{self.config.seed}:{trial_id}".encode()) % (2**31)

    def _parent_model(self, parent_id: str):
        parent_dir = os.path.join(self.project_dir, f"trial_{parent_id}")
        weights = os.path.join(parent_dir, BEST)
        if not os.path.exists(weights):
            return None
        parent = self.oracle.trials.get(parent_id)
        if parent is None:
            return None
        arch = self.space.architecture(parent.hyperparameters.values)
        model = self.space.build_model(arch, compile=False)
        model.load_weights(weights)
        return model

    def _warm_start(self, model, arch, weights: str, label) -> str:
        """Start a seeded trial from weights of its architecture at full fidelity (the
        champion's): every layer whose shape the search fidelity kept is copied."""
        try:
            donor = self.space.build_model(arch, FULL, compile=False)
            donor.load_weights(weights)
        except (OSError, ValueError) as e:
            self.log(f"NAS seed {label}: weights {weights} not loaded ({e}); from scratch")
            return "scratch"
        copied = inherit.copy_matching(donor, model)
        return f"warm from {label} ({len(copied)} layers)"

    def run_baseline(self, data: SearchData, module_path: str) -> dict | None:
        """Train the user's own model (nas/baseline.py) like a trial: same data,
        fidelity, epoch count and budget. Its row has trial id "baseline"; a resumed search
        keeps a finished one."""
        from nas import baseline

        tdir = os.path.join(self.project_dir, f"trial_{baseline.BASELINE_ID}")
        done_path = os.path.join(tdir, RESULT)
        if os.path.exists(done_path):
            return _read_json(done_path)["row"]
        os.makedirs(tdir, exist_ok=True)
        for name in (INFLIGHT, LAST, OPTIMIZER):  # an interrupted baseline starts again
            if os.path.exists(os.path.join(tdir, name)):
                os.remove(os.path.join(tdir, name))
        t0, cfg = time.time(), self.config
        keras.utils.set_random_seed(self._seed(baseline.BASELINE_ID))
        with self.device.scope():
            model, hp = baseline.build(module_path, self.space.input_spec)
        latency = measure_latency_ms(model, data.sample_batch(cfg.batch_size), kind=cfg.latency)
        epochs = self.space.fidelity.epochs_for(cfg.epochs)
        fraction = self.space.fidelity.data_fraction
        per_epoch = data.examples_per_epoch(fraction, cfg.batch_size)
        history: dict = {}
        budget = _Budget(self.oracle, per_epoch)
        callbacks = [_EpochCheckpoint(tdir, history, cfg.objective, self.maximize), budget]
        self._fit(model, data, fraction, 0, epochs, callbacks, baseline.BASELINE_ID)
        values_seen = history.get(cfg.objective, [])
        if not values_seen:
            raise baseline.BaselineError(
                f"the baseline model reported no {cfg.objective}: compile it with "
                f"metrics=['accuracy'] or leave it uncompiled ({module_path})"
            )
        score = max(values_seen) if self.maximize else min(values_seen)
        row = {
            "trial_id": baseline.BASELINE_ID,
            "status": "completed",
            "score": float(score),
            "params": int(model.count_params()),
            "latency_ms": round(latency, 3),
            "summary": f"your model: {os.path.basename(module_path)}",
            "fidelity": self.space.fidelity.label(),
            "epochs": len(values_seen),
            "examples_seen": len(values_seen) * per_epoch,
            "wall_s": round(time.time() - t0, 2),
            "early_stopped": budget.hit,
            "stopped_by": "budget" if budget.hit else None,
            "parent": None,
            "mutation": None,
            "architecture": None,
            "runner": self.tuner_id,
            "seed": None,
            "start": "scratch",
            "user_module": os.path.abspath(module_path),
            "hyperparameters": hp.get_config(),
        }
        self._record(row, None, history)
        _atomic_json(done_path, {"score": float(score), "history": history, "row": row})
        return row

    def run_trial(self, trial, data: SearchData, **_ignored):
        tdir = self.get_trial_dir(trial.trial_id)
        done_path = os.path.join(tdir, RESULT)
        if os.path.exists(done_path):  # finished before a crash: never train it again
            result = _read_json(done_path)
            self.log(f"NAS trial {trial.trial_id} finished before the restart; not rerun")
            return {self.oracle.objective.name: result["score"]}
        t0 = time.time()
        values = trial.hyperparameters.values
        arch = self.space.architecture(values)
        est = cfg = self.config
        if values.get("nas/pruned"):
            self._prune(trial, arch, values["nas/pruned"], t0)
        keras.utils.set_random_seed(self._seed(trial.trial_id))
        with self.device.scope():
            model = self.space.build_model(arch)
        params = (
            model.count_params()
            if self.space.fidelity.is_full
            else self.space.count_params(arch, FULL)
        )
        latency = measure_latency_ms(model, data.sample_batch(cfg.batch_size), kind=cfg.latency)
        if cfg.max_params and params > cfg.max_params:
            self._prune(trial, arch, f"{params} parameters > limit {cfg.max_params}", t0, params)
        if cfg.max_latency_ms and latency > cfg.max_latency_ms:
            self._prune(
                trial, arch, f"latency {latency:.2f} ms > limit {cfg.max_latency_ms} ms", t0, params
            )

        epochs = self.space.fidelity.epochs_for(cfg.epochs)
        initial = 0
        if "tuner/epochs" in values:  # Hyperband's schedule
            epochs = int(values["tuner/epochs"])
            if est.inherit_weights and values.get("tuner/trial_id"):
                initial = int(values.get("tuner/initial_epoch", 0))
        history: dict = {}
        start = "scratch"
        inflight_path = os.path.join(tdir, INFLIGHT)
        if os.path.exists(inflight_path) and os.path.exists(os.path.join(tdir, LAST)):
            inflight = _read_json(inflight_path)
            model.load_weights(os.path.join(tdir, LAST))
            restored = load_optimizer(model, os.path.join(tdir, OPTIMIZER))
            history = inflight["history"]
            initial = inflight["epoch"]
            start = f"resumed at epoch {initial}" + ("" if restored else " (fresh optimizer)")
        elif values.get("nas/warm"):
            start = self._warm_start(model, arch, values["nas/warm"], values.get("nas/seed"))
        else:
            parent_id = values.get("nas/parent") or values.get("tuner/trial_id")
            if parent_id and (est.inherit_weights or est.morphism):
                parent_model = self._parent_model(parent_id)
                if parent_model is not None:
                    if est.morphism and values.get("nas/morph"):
                        morph.transfer(
                            parent_model,
                            model,
                            arch,
                            values["nas/morph"],
                            self._seed(trial.trial_id),
                        )
                        start = f"morphed from {parent_id} ({values['nas/morph']})"
                    elif est.inherit_weights:
                        copied = inherit.copy_matching(parent_model, model)
                        start = f"inherited {len(copied)} layers from {parent_id}"
        callbacks = [_EpochCheckpoint(tdir, history, cfg.objective, self.maximize)]
        stopper = None
        if est.curve_stop and "tuner/epochs" not in values:
            stopper = curve.CurveStopper(
                cfg.objective,
                self.oracle.best_score(),
                epochs,
                maximize=self.maximize,
                confidence=est.curve_confidence,
                min_epochs=est.curve_min_epochs,
                history=history.get(cfg.objective, []),
            )
            callbacks.append(stopper)
        rungs = None
        if est.successive_halving and "tuner/epochs" not in values:
            rungs = halving.RungStopper(
                cfg.objective,
                est.halving_rungs,
                halving.rung_scores(
                    self.earlier_histories(trial.trial_id), est.halving_rungs, self.maximize
                ),
                eta=est.halving_eta,
                maximize=self.maximize,
                history=history.get(cfg.objective, []),
            )
            callbacks.append(rungs)
        fraction = self.space.fidelity.data_fraction
        per_epoch = data.examples_per_epoch(fraction, cfg.batch_size)
        trained = len(history.get(cfg.objective, []))  # epochs of this trial before a restart
        budget = _Budget(self.oracle, per_epoch, seen=trained * per_epoch)
        callbacks.append(budget)
        if initial < epochs:
            self._fit(model, data, fraction, initial, epochs, callbacks, trial.trial_id)
        values_seen = history.get(cfg.objective, [])
        if not values_seen:
            raise keras_tuner.errors.FailedTrialError(
                f"trial {trial.trial_id} reported no {cfg.objective}"
            )
        score = max(values_seen) if self.maximize else min(values_seen)
        epochs_run = len(values_seen)
        row = self._row(
            trial,
            arch,
            score=float(score),
            params=int(params),
            latency_ms=round(latency, 3),
            epochs=epochs_run,
            examples_seen=epochs_run * per_epoch,
            wall_s=round(time.time() - t0, 2),
            early_stopped=bool(stopper and stopper.stopped_epoch)
            or bool(rungs and rungs.stopped_epoch)
            or budget.hit,
            stopped_by=_stopped_by(stopper, rungs, budget),
            start=start,
        )
        self._record(row, arch, history)
        _atomic_json(done_path, {"score": float(score), "history": history, "row": row})
        for name in (INFLIGHT, LAST, OPTIMIZER):
            path = os.path.join(tdir, name)
            if os.path.exists(path):
                os.remove(path)
        return {cfg.objective: float(score)}

    def _fit(self, model, data, fraction, initial, epochs, callbacks, trial_id):
        """Arrays: one fit call per epoch with a permutation fixed by (seed, trial, epoch), so a
        resumed trial sees the batches an uninterrupted one would. Datasets: one fit call."""
        kwargs = data.fit_kwargs(fraction, self.config.batch_size)
        if not data.is_arrays:
            model.fit(
                epochs=epochs, initial_epoch=initial, callbacks=callbacks, verbose=0, **kwargs
            )
            return
        x, y = kwargs.pop("x"), kwargs.pop("y")
        kwargs["shuffle"] = False
        for epoch in range(initial, epochs):
            seed = self._seed(f"{trial_id}:{epoch}")
            keras.utils.set_random_seed(seed)
            order = np.random.default_rng(seed).permutation(len(y))
            model.fit(
                {k: v[order] for k, v in x.items()},
                y[order],
                epochs=epoch + 1,
                initial_epoch=epoch,
                callbacks=callbacks,
                verbose=0,
                **kwargs,
            )
            if model.stop_training:
                return

    def _prune(self, trial, arch, reason: str, t0: float, params=None):
        row = self._row(
            trial,
            arch,
            status="pruned",
            params=params,
            wall_s=round(time.time() - t0, 2),
            mutation=reason,
        )
        _atomic_json(os.path.join(self.get_trial_dir(trial.trial_id), RESULT + ".pruned"), row)
        self._record(row, arch, {})
        raise keras_tuner.errors.FailedTrialError(f"{PRUNED}: {reason}")

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if trial.status == trial_module.TrialStatus.FAILED and not any(
            r["trial_id"] == trial.trial_id for r in self.rows()
        ):
            message = (trial.message or "").strip().splitlines()
            self.log(f"NAS trial {trial.trial_id} failed: {message[-1] if message else ''}")
            self._record(self._row(trial, None, status="failed"), None, {})
