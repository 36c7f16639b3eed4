"""Word n-grams of free-text columns (issue 34: "lower-cased words, optional n-grams"): the
`text_ngrams` setting (core/settings.py) reaches Transform from the settings or a data folder's
dataset.json, and with word pairs a model learns what only word order tells, served from raw
strings. Helpers from tests/pipeline/test_text_columns.py."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest

from core import columns, names
from pipelines import task as data_task
from tests.pipeline import local
from tests.pipeline.test_text_columns import (
    NEUTRAL,
    SPEC,
    _analyze,
    _example,
    _served,
    config_of,
    reviews,
    write_csv,
)


def ordered_rows(n: int, seed: int) -> list[dict]:
    """Text-only rows whose label is the ORDER of two adjacent words every text holds: "not
    good" returns, "good not" keeps. The bag of words cannot tell them apart."""
    rnd = random.Random(seed)
    rows = []
    for _ in range(n):
        words = [rnd.choice(NEUTRAL) for _ in range(rnd.randint(4, 12))]
        keep = rnd.random() < 0.5
        at = rnd.randint(0, len(words))
        words[at:at] = ["Good", "not!"] if keep else ["not", "good,"]
        rows.append({"review": " ".join(words), "label": "keep" if keep else "return"})
    return rows


def test_word_pairs_learn_word_order_and_are_served_from_raw_text(tmp_path):
    """`text_ngrams` 2: each position holds its word and the pair starting there, in one TFT
    vocabulary, in the serving graph. On a label that only word order tells (the same words
    either way), the engine's first chain network (an embedding averaged over the ids) learns
    it from the pairs and stays near chance from the words alone; the pyfunc reads raw text."""
    import keras
    import pandas as pd

    from components.nas_tuner import tfx_io
    from nas.spaces import get_space

    train, test = ordered_rows(600, 11), ordered_rows(200, 12)
    spec = {k: SPEC[k] for k in ("review", "label")}

    def fit(ngrams: int):
        tft_out = _analyze(tmp_path / f"n{ngrams}", train, spec, ngrams)
        input_spec = tfx_io.input_spec(tft_out, "label", {}, "classification", [])
        x = local.transform(tft_out, [_example(r) for r in train])
        x_test = local.transform(tft_out, [_example(r) for r in test])
        y, y_test = x.pop("label_xf")[:, 0], x_test.pop("label_xf")[:, 0]
        keras.utils.set_random_seed(0)
        space = get_space("chain", input_spec, seed=0)
        model = space.build_model(space.first())
        model.fit(x, y, epochs=8, batch_size=32, verbose=0)
        guess = model.predict(x_test, verbose=0).argmax(-1)
        return tft_out, model, float(np.mean(guess == y_test))

    _, _, words_only = fit(1)
    tft_out, model, pairs = fit(2)
    print(f"\nword order: words alone {words_only:.3f}, with word pairs {pairs:.3f}")
    assert pairs >= 0.95 and words_only <= 0.7, (pairs, words_only)

    vocab = [w.decode() for w in tft_out.vocabulary_by_name(names.feature_name("review"))]
    assert {"not good", "good not", "not", "good"} <= set(vocab) and vocab[0] == "<pad>"
    index = {w: i for i, w in enumerate(vocab)}
    ids = local.transform(tft_out, [_example({"review": "the Not good."})])[names.xf("review")]
    assert ids.shape == (1, 2 * columns.TEXT_LENGTH)
    want = ["the", "the not", "not", "not good", "good"]
    assert list(ids[0, :5]) == [index[w] for w in want] and not ids[0, 5:].any()

    inputs, served = _served(tmp_path, model, tft_out)
    assert inputs.features["review"] == "bytes"  # the raw text
    predicted = served.predict(pd.DataFrame([{"review": r["review"]} for r in test]))["class"]
    accuracy = float(np.mean(predicted.to_numpy() == np.array([r["label"] for r in test])))
    assert accuracy == pytest.approx(pairs, abs=0.01)


def test_text_ngrams_reach_transform_and_the_log_line(tmp_path, caplog):
    """The setting, or a data folder's dataset.json, sets the n-grams Transform is told."""
    caplog.set_level(logging.INFO)
    data = write_csv(tmp_path / "data", reviews(150, 4))
    config, _ = config_of(tmp_path, data)
    assert config["text_ngrams"] == 1
    config, cleaning = config_of(tmp_path, data, text_ngrams=3)
    assert config["text_ngrams"] == 3
    assert any(
        n.endswith("most frequent words and n-grams of 2 to 3 words") for n in cleaning["notes"]
    )
    folder = write_csv(tmp_path / "pairs", reviews(150, 4), {"label": "label", "text_ngrams": 2})
    config, cleaning = config_of(tmp_path, folder)
    assert config["text_ngrams"] == 2
    assert any(n.endswith("most frequent words and word pairs") for n in cleaning["notes"])
    bad = write_csv(tmp_path / "bad", reviews(150, 4), {"label": "label", "text_ngrams": 4})
    with pytest.raises(data_task.DataError, match="text_ngrams=4 must be <= 3"):
        config_of(tmp_path, bad)
