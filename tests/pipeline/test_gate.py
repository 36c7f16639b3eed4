"""The gate (core/gate.py) and its metrics (core/metrics.py), on generated labels and scores:
the metrics equal scikit-learn's, a constant model and a model no better than the trivial
baseline are refused with one line, promotion needs at least the champion's score on the same
rows, and data too small or too plain to judge is refused before training."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from core import gate, metrics, promotion


def rare_positives(n: int, seed: int = 0, signal: float = 2.0):
    """Labels with about 4% positives and a score carrying real signal."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(signal * x - 4.0)))
    y = (rng.random(n) < p).astype(int)
    return y, np.c_[1 - p, p]


def test_the_metrics_equal_scikit_learns():
    y, probs = rare_positives(5000)
    p = probs[:, 1]
    got = metrics.compute("binary", y, probs, threshold=0.3)
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(y, p), abs=1e-9)
    assert got["pr_auc"] == pytest.approx(sk.average_precision_score(y, p), abs=1e-9)
    assert got["log_loss"] == pytest.approx(sk.log_loss(y, p), abs=1e-6)
    assert got["brier"] == pytest.approx(sk.brier_score_loss(y, p), abs=1e-9)
    predicted = (p >= 0.3).astype(int)
    assert got["f1"] == pytest.approx(sk.f1_score(y, predicted), abs=1e-9)
    assert got["recall"] == pytest.approx(sk.recall_score(y, predicted), abs=1e-9)
    rng = np.random.default_rng(1)
    probs3 = rng.dirichlet([1, 1, 1], size=600)
    y3 = rng.integers(0, 3, 600)
    got3 = metrics.compute("multiclass", y3, probs3)
    assert got3["macro_f1"] == pytest.approx(
        sk.f1_score(y3, probs3.argmax(1), average="macro"), abs=1e-9
    )
    assert got3["log_loss"] == pytest.approx(sk.log_loss(y3, probs3), abs=1e-6)
    values = rng.normal(size=300)
    pred = values + rng.normal(scale=0.5, size=300)
    reg = metrics.compute("regression", values, pred)
    assert reg["r2"] == pytest.approx(sk.r2_score(values, pred), abs=1e-9)
    assert reg["mae"] == pytest.approx(sk.mean_absolute_error(values, pred), abs=1e-9)


def test_a_constant_model_on_rare_positives_is_never_blessed():
    y, probs = rare_positives(3000)
    constant = np.tile([0.96, 0.04], (len(y), 1))
    decision = gate.decide("binary", y, constant, np.bincount(y), rounds=200)
    assert decision.state == promotion.NOT_BLESSED
    assert "for every one of the 3000 test rows" in decision.reason
    assert "\n" not in decision.reason
    # The same constant with float noise in its last bits, and the decision threshold chosen at
    # that very value (test_learning_dag's constant model): still one class, said so.
    wobble = constant[:, 1] + np.resize([-1e-9, 1e-9], len(y))
    jittered = np.stack([1 - wobble, wobble], axis=1)
    decision = gate.decide("binary", y, jittered, np.bincount(y), threshold=0.04, rounds=200)
    assert decision.state == promotion.NOT_BLESSED
    assert "for every one of the 3000 test rows" in decision.reason
    # The same prior with noise predicts both classes, yet is no better than the prior.
    rng = np.random.default_rng(2)
    noise = np.clip(0.04 + rng.normal(scale=0.02, size=len(y)), 0.001, 0.999)
    decision = gate.decide(
        "binary", y, np.c_[1 - noise, noise], np.bincount(y), rounds=200, threshold=0.05
    )
    assert decision.state == promotion.NOT_BLESSED
    assert "not clearly better than the trivial baseline" in decision.reason


def test_a_real_model_is_blessed_beside_the_prior_and_never_promoted_below_the_champion():
    y, probs = rare_positives(3000)
    first = gate.decide("binary", y, probs, np.bincount(y), rounds=200, threshold=0.2)
    assert first.state == promotion.CHAMPION, first.reason
    assert first.metric == "pr_auc"
    assert first.value > first.trivial + 0.1
    assert first.metrics["trivial_pr_auc"] == pytest.approx(y.mean(), abs=1e-9)
    # A slightly weaker challenger: blessed, but @challenger only.
    rng = np.random.default_rng(3)
    noisy = np.clip(probs[:, 1] + rng.normal(scale=0.01, size=len(y)), 0, 1)
    weaker = gate.decide(
        "binary", y, np.c_[1 - noisy, noisy], np.bincount(y), probs, rounds=200, threshold=0.2
    )
    assert weaker.value < weaker.champion
    assert weaker.state == promotion.CHALLENGER
    # The champion itself again: at least as good (equal) moves nothing backwards.
    same = gate.decide("binary", y, probs, np.bincount(y), probs, rounds=200, threshold=0.2)
    assert same.state == promotion.CHAMPION
    # Much worse than the champion (still better than the prior): @challenger only, with the
    # interval of the difference that shows the gap is no noise.
    weak = np.clip(probs[:, 1] + rng.normal(scale=0.1, size=len(y)), 0.001, 0.999)
    worse = gate.decide("binary", y, np.c_[1 - weak, weak], np.bincount(y), probs, rounds=200)
    assert worse.state == promotion.CHALLENGER, worse.reason
    assert worse.vs_champion[1] < 0 and "not at least as good" in worse.reason


def test_a_fixed_bar_stays_available_and_metrics_follow_their_direction():
    y, probs = rare_positives(2000)
    decision = gate.decide(
        "binary", y, probs, np.bincount(y), metric="roc_auc", fixed_bar=0.99, rounds=100
    )
    assert decision.state == promotion.NOT_BLESSED
    assert "gate_min" in decision.reason
    rng = np.random.default_rng(4)
    values = rng.normal(10, 3, size=400)
    good = values + rng.normal(scale=1.0, size=400)
    reg = gate.decide("regression", values, good, 10.0, rounds=200)
    assert reg.metric == "rmse" and not reg.higher_is_better
    assert reg.state == promotion.CHAMPION
    assert reg.value < reg.trivial
    with pytest.raises(ValueError, match="does not apply to regression"):
        gate.gate_metric("regression", "pr_auc")


def test_data_too_small_or_too_plain_is_refused_before_training():
    assert "single value" in gate.refusal("binary", np.zeros(50), 0.1)
    assert "single value (yes)" in gate.refusal("binary", np.zeros(50), 0.1, names=["yes"])
    five = gate.refusal("binary", np.array([0, 1, 0, 1, 0]), 0.1)
    assert five.startswith("too few rows to judge a model")
    assert gate.refusal("binary", np.r_[np.zeros(150), np.ones(50)], 0.1) is None
    assert gate.refusal("multiclass", np.repeat([0, 1, 2], 60), 0.1) is None
    assert "single value" in gate.refusal("regression", np.full(100, 3.0), 0.1)
    assert gate.refusal("regression", np.arange(100.0), 0.1) is None


def test_the_decision_threshold_is_chosen_on_validation_rows():
    y, probs = rare_positives(4000, seed=5)
    p = probs[:, 1]
    best, why = metrics.choose_threshold(y, p, "best_f1")
    f1s = {t: sk.f1_score(y, (p >= t).astype(int)) for t in np.unique(p)[::10]}
    assert sk.f1_score(y, (p >= best).astype(int)) >= max(f1s.values()) - 1e-9
    assert "best F1" in why
    recall_t, why = metrics.choose_threshold(y, p, "recall:0.8")
    assert sk.recall_score(y, (p >= recall_t).astype(int)) >= 0.8
    assert best > recall_t


def test_rows_far_less_learnable_than_the_champions_are_stopped_where_a_shift_is_followed():
    """bench/season/'s two weeks that both leave @champion near the prior on the new rows: a
    batch of shuffled labels (a model learns almost nothing; before this check it was promoted,
    PR AUC 0.336 against the prior's 0.246 and @champion's 0.256) and an abrupt shift (a new
    model learns the new rows as well as the champion learnt the old ones)."""
    y, strong = rare_positives(3000, seed=5)
    prior = np.bincount(y)
    record = {"version": "5", "value": 0.72, "trivial": 0.25}  # @champion's own gate
    rng = np.random.default_rng(6)
    # Broken labels: a faint signal left, and @champion no better than the prior on them.
    faint = np.clip(y.mean() + 0.004 * (y - y.mean()) + rng.normal(0, 0.01, len(y)), 1e-3, 1)
    stale = np.clip(y.mean() + rng.normal(0, 0.01, len(y)), 1e-3, 1)

    def faint_model(share: float) -> gate.Decision:
        return gate.decide(
            "binary",
            y,
            np.c_[1 - faint, faint],
            prior,
            np.c_[1 - stale, stale],
            rounds=200,
            champion_record=record,
            learnable_share=share,
            threshold=float(y.mean()),
        )

    broken = faint_model(0.5)
    assert broken.vs_trivial[0] > 0  # clearly better than the prior: blessed before the check
    assert broken.state == promotion.NOT_BLESSED, broken.reason
    assert "far less predictable than the champion's were" in broken.reason
    assert "version 5 at its gate" in broken.reason
    assert "\n" not in broken.reason
    off = faint_model(0.0)
    assert off.state == promotion.CHAMPION, off.reason  # the setting at 0: the old behaviour
    # A shift: the new model is as good on the new rows as the champion was on its own.
    shifted = gate.decide(
        "binary",
        y,
        strong,
        prior,
        np.c_[1 - stale, stale],
        rounds=200,
        champion_record=record,
        learnable_share=0.5,
        threshold=0.2,
    )
    assert shifted.state == promotion.CHAMPION, shifted.reason
    # Directions: an error (RMSE) whose champion cut the baseline's 10 to 5.
    values = rng.normal(10, 3, size=400)
    barely = np.full(400, values.mean()) + 0.15 * (values - values.mean())
    reg = gate.decide(
        "regression",
        values,
        barely,
        float(values.mean()),
        rounds=200,
        champion_record={"value": 1.5, "trivial": 3.0},
        learnable_share=0.5,
    )
    assert reg.state == promotion.NOT_BLESSED and "far less predictable" in reg.reason, reg.reason


def test_the_champions_gate_record_is_read_from_its_version(tmp_path):
    """The Evaluator reads @champion's own gate (core/registry.py's recorded_gate) from the tags
    the pusher wrote on its version, only when @champion is the model artifact it scores and
    was gated on the same metric."""
    from mlflow import MlflowClient

    from core import names, registry

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    c = MlflowClient(uri, registry_uri=uri)
    c.create_registered_model("m")
    tags = {
        names.TAG_MODEL_ARTIFACT_ID: "17",
        names.TAG_GATE_METRIC: "pr_auc",
        names.TAG_GATE_VALUE: "0.72",
        names.TAG_GATE_TRIVIAL: "0.25",
    }
    v = c.create_model_version("m", str(tmp_path / "model"), tags=tags)
    assert registry.recorded_gate(c, "m", 17, "pr_auc") is None  # no @champion yet
    c.set_registered_model_alias("m", names.CHAMPION, v.version)
    got = registry.recorded_gate(c, "m", 17, "pr_auc")
    assert got == {"version": str(v.version), "value": 0.72, "trivial": 0.25}
    assert registry.recorded_gate(c, "m", 18, "pr_auc") is None  # another artifact
    assert registry.recorded_gate(c, "m", 17, "roc_auc") is None  # another metric
    assert registry.recorded_gate(c, "other", 17, "pr_auc") is None  # no such model
