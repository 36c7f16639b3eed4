"""The gate, written once: which metric judges a task, what "blessed" means, and whether a
blessed model is better than @champion. The Evaluator runs it on the test split; the pusher,
the approval form, the docs and the benches read its `Decision`.

On the same test rows it scores the candidate, the trivial baseline (the training class prior,
or the training mean) and @champion (when there is one), and draws a paired bootstrap of the
differences (the same resampled rows for every model). Then:

- NOT BLESSED when the candidate predicts one class for every row; when it is not clearly
  better than the trivial baseline (the bootstrap's 95% interval of the difference does not
  lie above 0); or below a fixed bar an operator set (`gate_min`).
- NOT BLESSED, too, when the rows are far less predictable than @champion's were: even the
  top of the candidate's interval of lift over the trivial baseline is below
  `learnable_share` of @champion's lift at its own gate (`champion_record`, its version's
  tags). Shuffled labels or a bad join leave a batch a model barely learns, and @champion
  scores no better on it, so "better than @champion on these rows" would promote it; an
  abrupt shift leaves a batch as learnable as before (bench/season/).
- Else blessed. It is better (core/promotion.py's CHAMPION) when it is at least as good as
  @champion on the gate metric on these rows (or there is no champion); else CHALLENGER: it is
  registered for a person to look at (a promoted smaller model, say), never served by itself.
  The interval of the difference against @champion says whether a gap is more than noise.

`refusal(...)` is the check before training: a label with one value, or a test split too small
for the gate to tell even a perfect model from the trivial baseline, is refused in one line.
numpy only (core/metrics.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from core import metrics, promotion

CONFIDENCE = 0.95
ROUNDS = 1000  # bootstrap rounds
# Outputs that differ by less than this across the rows are one output: a constant model's
# probabilities vary in the last bits between batches, and a threshold chosen at that very
# value would split its rows into two "classes" on float noise.
CONSTANT = 1e-6
SEED = 20261206  # the bootstrap's rows are the same on every run of the same data
AUTO = "auto"


def gate_metric(family: str, setting: str = AUTO) -> metrics.Metric:
    """The metric that gates this family: the operator's choice, else the family's default."""
    name = metrics.DEFAULT_GATE[family] if setting in ("", AUTO) else setting
    if name not in metrics.METRICS[family]:
        raise ValueError(
            f"gate_metric {name!r} does not apply to {family} models; choose one of "
            f"{sorted(metrics.METRICS[family])} or {AUTO!r}"
        )
    return metrics.METRICS[family][name]


def trivial_outputs(family: str, n: int, prior) -> np.ndarray:
    """The trivial baseline's outputs for n rows: the class prior for every row, or the
    training mean (`prior` is the class shares, or the mean)."""
    if family == "regression":
        return np.full(n, float(prior))
    shares = np.asarray(prior, dtype=float)
    return np.tile(shares / shares.sum(), (n, 1))


@dataclasses.dataclass
class Decision:
    """The gate's verdict and its evidence, all on the same `rows` test rows."""

    state: str  # core/promotion.py: NOT_BLESSED, CHALLENGER or CHAMPION
    reason: str  # one readable line
    metric: str
    higher_is_better: bool
    value: float
    trivial: float
    champion: float | None  # None: no champion to compare with
    vs_trivial: tuple[float, float]  # 95% interval of candidate - trivial (better > 0)
    vs_champion: tuple[float, float] | None  # of candidate - champion (better > 0)
    rows: int
    metrics: dict  # every metric of the family: candidate, trivial_*, champion_*

    @property
    def blessed(self) -> bool:
        return self.state != promotion.NOT_BLESSED

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _interval(diffs) -> tuple[float, float]:
    finite = np.asarray(diffs)[np.isfinite(diffs)]
    if not len(finite):
        return float("nan"), float("nan")
    tail = (1 - CONFIDENCE) / 2 * 100
    return float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))


def paired_bootstrap(family, metric, y, models: dict, threshold=0.5, rounds=ROUNDS, seed=SEED):
    """{name: the model's `metric` in each round}, on resampled rows shared by every model (a
    paired bootstrap: differences between two models' arrays are paired differences)."""
    ranked = {}
    if family == "binary":
        ranked = {k: metrics.Ranked.of(y, np.asarray(v)[:, 1]) for k, v in models.items()}
    rng = np.random.default_rng(seed)
    out = {k: np.empty(rounds) for k in models}
    n = len(y)
    for i in range(rounds):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        for k, v in models.items():
            out[k][i] = metrics.compute(family, y, v, w, threshold, ranked.get(k))[metric.name]
    return out


def better_by(metric: metrics.Metric, a, b) -> np.ndarray:
    """How much better `a` is than `b` (> 0: better), by the metric's direction."""
    sign = 1.0 if metric.higher_is_better else -1.0
    return sign * (np.asarray(a) - np.asarray(b))


def one_class(family: str, y, outputs, threshold: float) -> str | None:
    """A line when the model predicts the same class for every row (and the rows hold more
    than one class), else None."""
    if family == "regression" or len(np.unique(y)) < 2:
        return None
    outputs = np.asarray(outputs)
    if np.ptp(outputs, axis=0).max() < CONSTANT:  # one output for every row, up to float noise
        outputs = np.repeat(outputs.mean(axis=0, keepdims=True), len(outputs), axis=0)
    predicted = (outputs[:, 1] >= threshold).astype(int) if family == "binary" else None
    if predicted is None:
        predicted = outputs.argmax(axis=1)
    values = np.unique(predicted)
    return None if len(values) > 1 else f"class index {int(values[0])}"


def decide(
    family: str,
    y,
    candidate,
    prior,
    champion=None,
    *,
    metric: str = AUTO,
    fixed_bar: float | None = None,
    threshold: float = 0.5,
    class_names=None,
    rounds: int = ROUNDS,
    champion_record: dict | None = None,
    learnable_share: float = 0.0,
) -> Decision:
    """The gate's decision for `candidate`'s outputs on test labels `y` (see the module)."""
    m = gate_metric(family, metric)
    y = np.asarray(y)
    n = len(y)
    trivial = trivial_outputs(family, n, prior)
    models = {"trivial": trivial, "candidate": candidate}
    if champion is not None:
        models["champion"] = champion
    values = {k: metrics.compute(family, y, v, threshold=threshold) for k, v in models.items()}
    rounds_ = paired_bootstrap(family, m, y, models, threshold, rounds)
    vs_trivial = _interval(better_by(m, rounds_["candidate"], rounds_["trivial"]))
    vs_champion = None
    if champion is not None:
        vs_champion = _interval(better_by(m, rounds_["candidate"], rounds_["champion"]))
    value, base = values["candidate"][m.name], values["trivial"][m.name]
    theirs = values["champion"][m.name] if champion is not None else None
    table = dict(values["candidate"])
    for who in ("trivial", "champion"):
        table.update({f"{who}_{k}": v for k, v in values.get(who, {}).items()})
    decision = Decision(
        promotion.CHAMPION,
        "",
        m.name,
        m.higher_is_better,
        value,
        base,
        theirs,
        vs_trivial,
        vs_champion,
        n,
        table,
    )
    fmt = f"{m.name} {value:.4f}"
    single = one_class(family, y, candidate, threshold)
    if single is not None:
        if class_names is not None:
            single = repr(class_names[int(single.split()[-1])])
        decision.state = promotion.NOT_BLESSED
        decision.reason = f"the model predicts {single} for every one of the {n} test rows"
    elif not vs_trivial[0] > 0:
        decision.state = promotion.NOT_BLESSED
        decision.reason = (
            f"{fmt} is not clearly better than the trivial baseline's {base:.4f} on {n} test "
            f"rows (95% interval of the difference [{vs_trivial[0]:+.4f}, {vs_trivial[1]:+.4f}])"
        )
    elif why := less_learnable(m, fmt, base, n, vs_trivial, champion_record, learnable_share):
        decision.state = promotion.NOT_BLESSED
        decision.reason = why
    elif fixed_bar is not None and (value < fixed_bar if m.higher_is_better else value > fixed_bar):
        decision.state = promotion.NOT_BLESSED
        bound = "at least" if m.higher_is_better else "at most"
        decision.reason = f"{fmt} misses the bar gate_min: {bound} {fixed_bar}"
    elif champion is not None and (value < theirs if m.higher_is_better else value > theirs):
        decision.state = promotion.CHALLENGER
        decision.reason = (
            f"blessed ({fmt}, trivial baseline {base:.4f}), but not at least as good as "
            f"@champion's {theirs:.4f} on the same {n} test rows (95% interval of the "
            f"difference [{vs_champion[0]:+.4f}, {vs_champion[1]:+.4f}]): @challenger only"
        )
    else:
        versus = "no champion yet" if champion is None else f"@champion's {theirs:.4f}"
        decision.reason = (
            f"blessed and better: {fmt} against the trivial baseline's {base:.4f} and "
            f"{versus}, on {n} test rows"
        )
    return decision


def less_learnable(m, fmt, base, n, vs_trivial, record, share) -> str | None:
    """A line when the candidate's lift over the trivial baseline is clearly below `share` of
    @champion's lift at its own gate (`record`: its value and trivial baseline there), else
    None (no record, a champion that itself barely beat its baseline, or `share` 0)."""
    if not record or not share:
        return None
    theirs = float(better_by(m, record["value"], record["trivial"]))
    if not theirs > 0 or vs_trivial[1] >= share * theirs:
        return None
    return (
        f"{fmt} is {vs_trivial[0]:+.4f} to {vs_trivial[1]:+.4f} over the trivial baseline's "
        f"{base:.4f} on {n} test rows, under {share:.0%} of @champion's own lift "
        f"({theirs:+.4f}, version {record.get('version', '?')} at its gate): these rows are far "
        "less predictable than the champion's were (broken labels, a bad join?), or this model "
        "learnt far less; nothing promoted"
    )


def refusal(
    family: str, labels, test_share: float, metric: str = AUTO, names: list | None = None
) -> str | None:
    """Why the data cannot be judged, before anything is trained (None: it can). `labels`: the
    label's values (class indices, or numbers), `names` the classes the indices stand for,
    `test_share` the test split's expected share.
    A label with one value is refused; so is a test split so small that even a perfect model
    could not be told from the trivial baseline on it (its bootstrap interval reaches 0)."""
    labels = np.asarray(labels)
    distinct = np.unique(labels)
    if len(distinct) < 2:
        only = distinct[0] if len(distinct) else "nothing"
        if names and len(distinct):
            only = names[int(only)]
        return f"the label has a single value ({only}) in {len(labels)} rows: nothing to learn"
    m = gate_metric(family, metric)
    n_test = int(len(labels) * test_share)
    # The test rows in expectation: every value of the label, in its share of the data.
    take = np.linspace(0, len(labels) - 1, max(n_test, 0)).astype(int) if n_test else []
    y = np.sort(labels)[take] if n_test else np.asarray([])
    if n_test < 2 or len(np.unique(y)) < 2:
        return (
            f"too few rows to judge a model: the test split would hold {n_test} row(s) "
            f"({test_share:.0%} of {len(labels)}), not enough to tell any model from the trivial "
            "baseline; add rows"
        )
    if family == "regression":
        prior, perfect = float(np.mean(labels)), y.astype(float)
    else:
        classes = int(labels.max()) + 1
        prior = np.bincount(labels.astype(int), minlength=classes) + 1.0
        perfect = np.eye(classes)[y.astype(int)]
    models = {"trivial": trivial_outputs(family, len(y), prior), "perfect": perfect}
    drawn = paired_bootstrap(family, m, y, models, rounds=300)
    low, high = _interval(better_by(m, drawn["perfect"], drawn["trivial"]))
    if not low > 0:
        return (
            f"too few rows to judge a model: on the {n_test} test rows ({test_share:.0%} of "
            f"{len(labels)}) even a perfect model's {m.name} could not be told from the trivial "
            f"baseline's (95% interval of the difference [{low:+.3f}, {high:+.3f}]); add rows"
        )
    return None
