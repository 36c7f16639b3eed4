"""Earlier searches, read back from MLflow: a run's leaderboard (`make leaderboard`), the
candidate a promotion names, and the leaders a warm start seeds its search with.

Every search logs one MLflow run (tag `nas.role=search`, `tfx_pipeline_run_id` = the pipeline
run id) with its leaderboard as the artifact `search/leaderboard.json`.
"""

from __future__ import annotations

import json
import tempfile

from core import names, tracking

ARTIFACT = names.LEADERBOARD_ARTIFACT


class LeaderboardError(RuntimeError):
    """No such search, or it has no leaderboard yet; the message says which."""


def searches(client, experiment: str, run: str | None = None, limit: int = 20):
    """Search runs, newest first; only those of pipeline run `run` when given."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise LeaderboardError(f"no MLflow experiment {experiment!r}: no search has logged yet")
    query = tracking.tag_equals(names.TAG_NAS_ROLE, names.NAS_ROLE_SEARCH)
    if run:
        query += " and " + tracking.tag_equals(names.TAG_PIPELINE_RUN, run)
    return client.search_runs(
        [exp.experiment_id],
        filter_string=query,
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )


def load(client, experiment: str, run: str | None = None) -> tuple[object, list]:
    """(the search's MLflow run, its leaderboard rows, best first)."""
    found = searches(client, experiment, run)
    finished = [r for r in found if r.info.status == "FINISHED"]
    if not finished:
        which = f"of run {run!r}" if run else "in the store"
        states = ", ".join(sorted({r.info.status for r in found})) or "none"
        raise LeaderboardError(f"no finished search {which} (searches found: {states})")
    search = finished[0]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(search.info.run_id, ARTIFACT, tmp)
        except Exception as e:  # MLflow raises several types for a missing artifact
            raise LeaderboardError(
                f"search {search.info.run_id} has no {ARTIFACT}: {str(e).splitlines()[0]}"
            ) from None
        with open(path) as f:
            rows = json.load(f)
    return search, rows


def parse_trial_ref(ref: str) -> tuple[str | None, str]:
    """ "RUN_ID:TRIAL" or "TRIAL" (the latest finished search) -> (run id or None, trial)."""
    run, sep, trial = ref.strip().rpartition(":")
    if not trial:
        raise LeaderboardError(f"promote_trial {ref!r}: name a trial, as TRIAL or RUN_ID:TRIAL")
    return (run or None) if sep else None, trial


def find_trial(client, experiment: str, ref: str) -> tuple[str, dict]:
    """(pipeline run id, leaderboard row) of the candidate `ref` names."""
    run, trial = parse_trial_ref(ref)
    search, rows = load(client, experiment, run)
    row = next((r for r in rows if str(r["trial_id"]) == trial), None)
    where = search.data.tags.get(names.TAG_PIPELINE_RUN, search.info.run_id)
    if row is None:
        ids = ", ".join(str(r["trial_id"]) for r in rows)
        raise LeaderboardError(f"run {where!r} has no trial {trial!r} (its trials: {ids})")
    if row.get("score") is None and not row.get("architecture"):
        raise LeaderboardError(
            f"trial {trial!r} of run {where!r} did not finish: nothing to promote"
        )
    return where, row


def leaders(client, experiment: str, k: int, exclude_run: str = "") -> list[dict]:
    """The top `k` scored rows with an architecture of the latest finished search of another
    pipeline run ([] when there is none)."""
    try:
        found = searches(client, experiment)
    except LeaderboardError:
        return []
    for search in found:
        if search.info.status != "FINISHED":
            continue
        run = search.data.tags.get(names.TAG_PIPELINE_RUN)
        if run == exclude_run:
            continue
        if search.data.tags.get(names.TAG_NAS_MODE) in ("retrain", "promote"):  # no search ran
            continue
        try:
            _, rows = load(client, experiment, run)
        except LeaderboardError:
            continue
        good = [r for r in rows if r.get("score") is not None and r.get("architecture")]
        if good:
            return good[:k]
    return []
