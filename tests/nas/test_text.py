"""Free text in the engine (nas/inputs.py's `tokens`, nas/spaces/text.py): word-id sequences
are inferred as tokens, every text op builds in every tabular space, a model learns a label
that only the words carry, beside numbers or alone, and a short search finds one."""

from __future__ import annotations

import numpy as np
import pytest

from nas.data import ArrayData
from nas.inputs import Feature, InputSpec, from_arrays
from nas.search import run_search
from nas.spaces import get_space
from nas.spaces.text import TEXT_OPS
from tests.nas.conftest import batch, config

LENGTH, VOCAB = 24, 60  # ids: 0 the padding, 1 out of vocabulary, then words
POSITIVE, NEGATIVE = range(2, 12), range(12, 22)  # the rest are neutral


def reviews(n: int, seed: int) -> tuple[dict, np.ndarray]:
    """{"words": [n, LENGTH] ids (padded with 0), "price": [n, 1]}, and a label: 1 when a
    text holds more positive than negative words (the price is noise)."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((n, LENGTH), "int64")
    y = np.zeros(n, "int64")
    price = rng.normal(size=(n, 1)).astype("float32")
    for i in range(n):
        size = rng.integers(6, LENGTH + 1)
        words = rng.integers(22, VOCAB, size)
        pos, neg = rng.integers(0, 4, 2)
        while pos == neg:
            pos, neg = rng.integers(0, 4, 2)
        slots = rng.permutation(size)[: pos + neg]
        words[slots[:pos]] = rng.choice(POSITIVE, pos)
        words[slots[pos:]] = rng.choice(NEGATIVE, neg)
        ids[i, :size] = words
        y[i] = int(pos > neg)
    return {"words": ids, "price": price}, y


def test_word_ids_are_tokens_with_their_vocabulary():
    x, _ = reviews(8, 0)
    spec = from_arrays(x, 2, vocab={"words": VOCAB})
    kinds = {f.name: (f.kind, f.size, f.shape) for f in spec.features}
    assert kinds == {"price": ("numeric", 1, ()), "words": ("tokens", VOCAB, (LENGTH,))}
    assert [f.name for f in spec.texts] == ["words"]
    assert InputSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="tokens feature 'words' needs a vocabulary size"):
        from_arrays(x, 2)


@pytest.mark.parametrize("space", ["chain", "graph", "cells"])
def test_every_text_op_builds_in_every_tabular_space(space):
    spec = InputSpec((Feature("a", "numeric"), Feature("t", "tokens", 30, (10,))), 3)
    s = get_space(space, spec, seed=1)
    assert {"text_op", "text_dim"} <= {c.name for c in s.choices()}
    for op in TEXT_OPS:
        arch = s.architecture({**s.default().choices, "text_op": op})
        model = s.build_model(arch)
        out = model.predict(batch(spec, 4), verbose=0)
        assert out.shape == (4, 3) and np.isfinite(out).all(), op
        assert f"text={op}" in s.describe(arch)
    # No text: no text choices (architectures found before stay valid).
    plain = get_space(space, InputSpec((Feature("a", "numeric"),), 3))
    assert "text_op" not in {c.name for c in plain.choices()}


@pytest.mark.parametrize("columns", [("words", "price"), ("words",)])
def test_a_model_learns_what_only_the_words_say(columns):
    import keras

    (x, y), (vx, vy) = reviews(1500, 1), reviews(500, 2)
    x, vx = {k: x[k] for k in columns}, {k: vx[k] for k in columns}
    spec = from_arrays(x, 2, vocab={"words": VOCAB})
    s = get_space("chain", spec, seed=0)
    first = s.first()
    for op in ("mean", "conv"):
        keras.utils.set_random_seed(0)
        model = s.build_model(s.architecture({**first.choices, "text_op": op}))
        model.fit(x, y, epochs=8, batch_size=32, verbose=0)
        accuracy = float((model.predict(vx, verbose=0).argmax(-1) == vy).mean())
        assert accuracy >= 0.9, (columns, op, accuracy)
    # An all-padding text (a missing review) gives a finite prediction.
    empty = {k: np.zeros_like(v[:2]) for k, v in vx.items()}
    assert np.isfinite(model.predict(empty, verbose=0)).all()


def test_a_short_search_finds_a_text_model(tmp_path):
    (x, y), (vx, vy) = reviews(1200, 3), reviews(400, 4)
    spec = from_arrays(x, 2, vocab={"words": VOCAB})
    data = ArrayData((x, y), (vx, vy))
    lines = []
    result = run_search(
        config(max_trials=3, epochs=6), spec, data, str(tmp_path / "s"), log=lines.append
    )
    assert result.best_score >= 0.85, lines
