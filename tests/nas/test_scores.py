"""Scores that can rank (nas/scores.py): the best epoch with the validation loss as tie-break,
the winner and the leaderboard ranked the same way, and each score's standard error."""

from __future__ import annotations

import math

import pytest

from nas import report, scores
from nas.estimation import reevaluate


def test_the_best_epoch_breaks_ties_by_validation_loss():
    history = {"val_accuracy": [0.9, 1.0, 1.0, 0.95], "val_loss": [0.5, 0.2, 0.1, 0.3]}
    assert scores.best_epoch(history, "val_accuracy", True) == 2
    assert scores.best_epoch({"val_rmse": [3.0, float("nan"), 2.0]}, "val_rmse", False) == 2
    assert scores.best_epoch({"val_accuracy": [float("nan")]}, "val_accuracy", True) is None
    assert scores.improves(1.0, 0.1, 1.0, 0.2, True)
    assert not scores.improves(1.0, 0.3, 1.0, 0.2, True)


def test_tied_scores_rank_by_loss_in_the_leaderboard_and_the_choice():
    def row(tid, score, loss, **kw):
        return {
            "trial_id": tid,
            "status": "completed",
            "score": score,
            "val_loss": loss,
            "params": 10,
            "architecture": "{}",
            **kw,
        }

    rows = [row("0", 1.0, 0.30), row("1", 1.0, 0.05), row("2", 0.99, 0.01), row("3", None, None)]
    ranked = report.rank(rows, maximize=True)
    assert [r["trial_id"] for r in ranked] == ["1", "0", "2", "3"]
    assert [r["trial_id"] for r in reevaluate.top_k(rows, 2, True)] == ["1", "0"]
    # Re-evaluated candidates first, equal means told apart by their mean loss.
    again = [
        row("0", 1.0, 0.3, score_mean=0.98, val_loss_mean=0.2),
        row("1", 1.0, 0.1, score_mean=0.98, val_loss_mean=0.1),
        row("2", 1.0, 0.0),
    ]
    assert [r["trial_id"] for r in report.rank(again)] == ["1", "0", "2"]
    # Lower is better for RMSE; the loss still breaks ties.
    rmse = [row("a", 2.0, 4.0), row("b", 2.0, 3.9), row("c", 1.5, 9.0)]
    assert [r["trial_id"] for r in report.rank(rmse, maximize=False)] == ["c", "b", "a"]


def test_each_score_has_its_standard_error_on_the_leaderboard():
    assert scores.standard_error("val_accuracy", 0.9, 10_000) == pytest.approx(0.003)
    assert scores.standard_error("val_accuracy", 1.0, 160) == 0.0
    assert scores.standard_error("val_rmse", 2.0, 50) == pytest.approx(0.2)
    mae = scores.standard_error("val_mae", 1.0, 100)
    assert mae == pytest.approx(math.sqrt(math.pi / 2 - 1) / 10)
    assert scores.standard_error("val_auc", 0.9, 100) is None
    assert scores.shown(0.93124, 0.00401) == "0.9312±0.0040" and scores.shown(None, None) == "-"
    rows = [
        {
            "trial_id": "0",
            "status": "completed",
            "score": 0.9,
            "score_se": 0.003,
            "params": 5,
            "val_loss": 0.2,
        }
    ]
    html = report.render_html(rows, "t")
    assert "0.9000±0.0030" in html and html.count("<th>score</th>") == 1
    header = report.to_csv(report.rank(rows)).splitlines()[0].split(",")
    assert len(header) == len(set(header))
    assert {"score_se", "val_loss", "rows_per_epoch"} <= set(header)
