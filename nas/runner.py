"""The trial runner: one KerasTuner Tuner subclass that every strategy and estimator shares.

For each candidate (candidate.py) it builds the model, prunes it if it breaks a limit, starts
it (start.py: from scratch, its parent, a seed's weights, or its own last epoch after a crash),
trains it at the search fidelity with curve-based early stopping and successive halving, then
records a leaderboard row, logs it to the tracker and prints one progress line.

Crash safety: everything lives in the project directory (store.py; the caller keys it by
pipeline run and node). A finished trial leaves `result.json`, so a resumed search never trains
it again; an interrupted one resumes from its last epoch with its optimizer's slots.
"""

from __future__ import annotations

import time
import zlib

import keras
import keras_tuner
import numpy as np

from nas import latency, start
from nas.candidate import Candidate, Proposal
from nas.device import DeviceInfo
from nas.encoding import Architecture
from nas.estimation import curve, halving, reevaluate
from nas.estimation.budget import Budget, stopped_by
from nas.kt_private import TrialStatus
from nas.store import TrialStore
from nas.strategies.base import PRUNED


class TrialRunner(keras_tuner.Tuner):
    """Runs the search's trials (KerasTuner calls `run_trial`) and fixed candidates
    (`run_fixed`), keeping their files in a `TrialStore` under the project directory.

    `tracker` (optional) gets `log_trial(row, choices, history)` for every row; `log` gets one
    progress line per trial. With `rendezvous` set and KerasTuner's worker environment
    (distributed.py), this runner is a worker of a parallel search."""

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
        latency.require(config.latency)
        self.space, self.config, self.tracker, self.log = space, config, tracker, log
        self.device = device or DeviceInfo(keras.backend.backend(), [], "float32")
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
        self.store = TrialStore(self.project_dir)
        if self._is_worker():  # a parallel search: KerasTuner made the oracle a gRPC client
            from nas.distributed import WorkerOracle

            self.oracle = WorkerOracle(self.oracle, self.project_dir, rendezvous)
        self.oracle.compute_spent = self.compute_spent()
        self._keep_reserve()

    # ---- bookkeeping --------------------------------------------------------------------
    @property
    def maximize(self) -> bool:
        return self.oracle.objective.direction == "max"

    def rows(self) -> list[dict]:
        """Leaderboard rows in the order trials started, one per trial (the last write wins)."""
        return self.store.rows(self.oracle.start_order)

    def compute_spent(self) -> int:
        """Example-epochs trained by the trials on the leaderboard."""
        return self.store.compute_spent()

    def earlier_histories(self, trial_id: str) -> list[list[float]]:
        """The objective's per-epoch history of every other trial that finished training."""
        out = []
        for tid in self.oracle.start_order:
            history = self.store.history(tid, self.config.objective) if tid != trial_id else None
            if history is not None:
                out.append(history)
        return out

    def _keep_reserve(self) -> None:
        """Tell the oracle how much of the time budget the re-evaluation will need."""
        if not self._is_worker():
            self.oracle.reserve_s = reevaluate.reserve_s(self.config, self.rows(), self.maximize)

    def _record(self, row: dict, arch: Architecture | None, history: dict) -> None:
        self.recorded.append(row["trial_id"])
        self.store.append(row)
        self.oracle.compute_spent = self.compute_spent()
        self._keep_reserve()
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

    def _row(self, candidate: Candidate, **fields) -> dict:
        values, arch = candidate.values, candidate.arch
        row = {
            "trial_id": candidate.trial_id,
            "status": "completed",
            "score": None,
            "params": None,
            "latency_ms": None,
            "fidelity": self.space.fidelity.label(),
            "epochs": 0,
            "examples_seen": 0,
            "wall_s": 0.0,
            "early_stopped": False,
            "parent": values.get("nas/parent") or values.get("tuner/trial_id"),
            "mutation": values.get("nas/mutation"),
            "architecture": arch.to_json() if arch else None,
            "runner": self.tuner_id,
            "seed": values.get("nas/seed"),
            **candidate.row_fields(self.space),
        }
        row.update(fields)
        return row

    def _seed(self, trial_id: str) -> int:
        return zlib.crc32(f"{self.config.seed}:{trial_id}".encode()) % (2**31)

    # ---- running candidates -------------------------------------------------------------
    def run_trial(self, trial, data, **_ignored):
        """KerasTuner's hook: train the strategy's trial (never again once it finished)."""
        done = self.store.result(trial.trial_id)
        if done is not None:  # finished before a crash: never train it again
            self.log(f"NAS trial {trial.trial_id} finished before the restart; not rerun")
            return {self.oracle.objective.name: done["score"]}
        row = self.train(Proposal.of(trial, self.space), data)
        return {self.config.objective: row["score"]}

    def run_fixed(self, candidate: Candidate, data) -> dict:
        """Train a candidate the strategy did not propose (the user's baseline model) like a
        trial, under its own trial id. Returns its row; a finished one is kept, not rerun."""
        done = self.store.result(candidate.trial_id)
        if done is not None:
            return done["row"]
        return self.train(candidate, data)

    def train(self, c: Candidate, data) -> dict:
        """Build, start, train, record and finish one candidate. Returns its row."""
        t0, cfg = time.time(), self.config
        if c.searched and c.values.get("nas/pruned"):
            self._prune(c, c.values["nas/pruned"], t0)
        if not c.searched:  # an interrupted fixed candidate starts again
            self.store.discard_checkpoints(c.trial_id)
        scheduled = "tuner/epochs" in c.values  # Hyperband's schedule: no other early stop
        epochs = int(c.values["tuner/epochs"]) if scheduled else self._full_epochs()
        fraction = self.space.fidelity.data_fraction
        keras.utils.set_random_seed(self._seed(c.trial_id))
        with self.device.scope():
            model = c.build(self.space, steps=epochs * data.steps_for(fraction, cfg.batch_size))
        params = c.params(self.space, model)
        latency_ms = latency.measure(model, data.sample_batch(cfg.batch_size), kind=cfg.latency)
        if c.searched:
            self._check_limits(c, params, latency_ms, t0)

        begin = self._start(c, model) if c.searched else start.Start()
        history = begin.history
        callbacks = [self.store.checkpoint(c.trial_id, history, cfg.objective, self.maximize)]
        stopper = rungs = None
        if c.searched and cfg.curve_stop and not scheduled:
            stopper = curve.CurveStopper(
                cfg.objective,
                self._curve_target(),
                epochs,
                maximize=self.maximize,
                confidence=cfg.curve_confidence,
                min_epochs=cfg.curve_min_epochs,
                history=history.get(cfg.objective, []),
            )
            callbacks.append(stopper)
        if c.searched and cfg.successive_halving and not scheduled:
            earlier = self.earlier_histories(c.trial_id)
            rungs = halving.RungStopper(
                cfg.objective,
                cfg.halving_rungs,
                halving.rung_scores(earlier, cfg.halving_rungs, self.maximize),
                eta=cfg.halving_eta,
                maximize=self.maximize,
                history=history.get(cfg.objective, []),
            )
            callbacks.append(rungs)
        per_epoch = data.examples_per_epoch(fraction, cfg.batch_size)
        trained = len(history.get(cfg.objective, []))  # epochs of this trial before a restart
        budget = Budget(self.oracle, per_epoch, seen=trained * per_epoch)
        callbacks.append(budget)
        if begin.initial_epoch < epochs:
            self._fit(model, data, fraction, begin.initial_epoch, epochs, callbacks, c.trial_id)
        values_seen = history.get(cfg.objective, [])
        if not values_seen:
            raise c.missing_objective(cfg.objective)
        score = float(max(values_seen) if self.maximize else min(values_seen))
        row = self._row(
            c,
            score=score,
            params=int(params),
            latency_ms=round(latency_ms, 3),
            epochs=len(values_seen),
            examples_seen=len(values_seen) * per_epoch,
            wall_s=round(time.time() - t0, 2),
            early_stopped=bool(stopper and stopper.stopped_epoch)
            or bool(rungs and rungs.stopped_epoch)
            or budget.hit,
            stopped_by=stopped_by(stopper, rungs, budget),
            start=begin.label,
        )
        self._record(row, c.arch, history)
        self.store.finish(c.trial_id, score, history, row)
        return row

    def _full_epochs(self) -> int:
        return self.space.fidelity.epochs_for(self.config.epochs)

    def _curve_target(self):
        """The score the learning-curve stop must see a trial beat, or None while it waits:
        until `curve_min_trials` trials have trained all their epochs, or `curve_wait_share`
        of the search's budget (time, compute or trials, whichever is furthest) is spent."""
        cfg, oracle = self.config, self.oracle
        full, rows = self._full_epochs(), self.rows()
        done = [r for r in rows if r["status"] == "completed" and r["epochs"] >= full]
        # A parallel search's worker sees neither budget (the chief keeps them): trials decide.
        max_trials = 0 if self._is_worker() else oracle.max_trials
        shares = [len(rows) / max_trials if max_trials else 0.0]
        left = oracle.time_left()
        if left is not None:
            shares.append(1 - left / oracle.time_budget_s)
        if not self._is_worker() and oracle.compute_budget:
            shares.append(oracle.compute_spent / oracle.compute_budget)
        if len(done) >= cfg.curve_min_trials or max(shares) >= cfg.curve_wait_share:
            return oracle.best_score()
        return None

    def _start(self, c: Candidate, model) -> start.Start:
        return start.choose(
            space=self.space,
            store=self.store,
            trials=self.oracle.trials,
            config=self.config,
            model=model,
            arch=c.arch,
            values=c.values,
            trial_id=c.trial_id,
            seed=self._seed(c.trial_id),
            log=self.log,
        )

    def rerun(self, trial_id: str, build, k: int, data, callbacks=()) -> dict:
        """Train trial `trial_id`'s model again from scratch on all the data, with seed number
        `k` of its own: the re-evaluation's run. `build(steps)` returns the compiled model at
        full fidelity. Returns {"score", "epochs", "wall_s", "complete"}; a complete run is
        kept in the store and never trained again."""
        done = self.store.rerun(trial_id, k)
        if done is not None:
            return done
        t0, cfg, run_id = time.time(), self.config, f"{trial_id}:rerun{k}"
        steps = data.steps_for(1.0, cfg.batch_size)
        keras.utils.set_random_seed(self._seed(run_id))
        with self.device.scope():
            model = build(cfg.epochs * steps)
        recorder = curve.CurveStopper(cfg.objective, None, cfg.epochs)  # records, never stops
        self._fit(model, data, 1.0, 0, cfg.epochs, [recorder, *callbacks], run_id)
        values = recorder.values
        if not values:
            raise keras_tuner.errors.FailedTrialError(f"rerun {run_id} reported no {cfg.objective}")
        result = {
            "score": float(max(values) if self.maximize else min(values)),
            "epochs": len(values),
            "wall_s": round(time.time() - t0, 2),
            "complete": len(values) >= cfg.epochs,
        }
        if result["complete"]:
            self.store.keep_rerun(trial_id, k, result)
        return result

    def _check_limits(self, c: Candidate, params: int, latency_ms: float, t0: float) -> None:
        cfg = self.config
        if cfg.max_params and params > cfg.max_params:
            self._prune(c, f"{params} parameters > limit {cfg.max_params}", t0, params)
        if cfg.max_latency_ms and latency_ms > cfg.max_latency_ms:
            reason = f"latency {latency_ms:.2f} ms > limit {cfg.max_latency_ms} ms"
            self._prune(c, reason, t0, params)

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

    def _prune(self, c: Candidate, reason: str, t0: float, params=None):
        row = self._row(
            c, status="pruned", params=params, wall_s=round(time.time() - t0, 2), mutation=reason
        )
        self.store.pruned(c.trial_id, row)
        self._record(row, c.arch, {})
        raise keras_tuner.errors.FailedTrialError(f"{PRUNED}: {reason}")

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if trial.status == TrialStatus.FAILED and not any(
            r["trial_id"] == trial.trial_id for r in self.rows()
        ):
            message = (trial.message or "").strip().splitlines()
            self.log(f"NAS trial {trial.trial_id} failed: {message[-1] if message else ''}")
            failed = Proposal.of(trial, self.space, with_arch=False)
            self._record(self._row(failed, status="failed"), None, {})
