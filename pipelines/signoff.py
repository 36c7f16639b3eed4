"""A person's sign-off of a version awaiting it (promotion `approval`, core/promotion.py): the
evidence the approval form shows, and the answer recorded.

    python -m pipelines.signoff evidence --model NAME --version N [--settings JSON]
    python -m pipelines.signoff decide --model NAME --version N --answer approved|rejected|timed_out
        --by USER [--reason TEXT] [--settings JSON]

The retraining DAG's `sign_off` task (dags/retrain_support/signoff.py) runs both. `evidence`
reads the gate's record on the version's tags (core/names.py's TAG_GATE_*: the gate metric of
the version, of @champion and of the trivial baseline on the same test rows, and the paired
bootstrap's 95% interval of version minus champion) and writes the form's Markdown, with links
to the version, its MLflow run and the gate's record in the run (evaluation/gate.json).
`decide` applies the answer through core/promotion.py's `sign_off` (approved: `make_champion`,
as promotion `auto` does); a refused sign-off prints `SIGN-OFF REFUSED: ...` and exits 2.

`--settings` locates MLflow as the pipeline does (pipelines/settings.py). The last line printed
is `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import sys

from core import names, promotion, registry, results, tracking
from pipelines.settings import Settings

GATE_FILE = f"evaluation/{names.GATE_RECORD}"  # where the pusher logs the gate's record


def _number(tags: dict, key: str) -> str:
    value = tags.get(key, "")
    return f"`{value}`" if value not in ("", None) else "–"


def evidence(client, uri: str, model: str, version: str) -> dict:
    """The approval form's subject and Markdown body for `model` version `version`, and the
    version's sign-off state."""
    v = client.get_model_version(model, version)
    tags = v.tags
    run = client.get_run(v.run_id) if v.run_id else None
    champion = tags.get(names.TAG_SIGNOFF_CHAMPION) or ""
    metric = tags.get(names.TAG_GATE_METRIC) or "the gate metric"
    low, high = tags.get(names.TAG_GATE_DIFF_LOW, ""), tags.get(names.TAG_GATE_DIFF_HIGH, "")
    interval = f"[{low}, {high}]" if low and high else "– (no champion to compare with)"
    rows = [
        f"| version {version} (this one, @{names.CHALLENGER}) | "
        f"{_number(tags, names.TAG_GATE_VALUE)} |",
        f"| @{names.CHAMPION} (version {champion or 'none'}) | "
        f"{_number(tags, names.TAG_GATE_CHAMPION)} |",
        f"| trivial baseline | {_number(tags, names.TAG_GATE_TRIVIAL)} |",
    ]
    links = [f"- registered version: {tracking.model_link(uri, model, version)}"]
    if run is not None:
        run_link = tracking.run_link(uri, run.info.experiment_id, run.info.run_id)
        links.append(f"- MLflow run: {run_link}")
        links.append(f"- the gate's record: `{GATE_FILE}` in the run's artifacts ({run_link})")
    body = "\n".join(
        [
            f"**{model} version {version}** passed the gate and is at least as good as "
            f"@{names.CHAMPION} on the same {tags.get(names.TAG_GATE_ROWS) or '?'} test rows. "
            f"**Approve** moves @{names.CHAMPION} to it; **Reject** keeps it @{names.CHALLENGER} "
            "only (give a reason below: it is recorded on the version).",
            "",
            f"| model | {metric} on the test rows |",
            "|---|---|",
            *rows,
            "",
            f"95% interval of this version minus @{names.CHAMPION} (paired bootstrap on the "
            f"same rows): {interval}",
            "",
            f"Gate: {tags.get(names.TAG_GATE_REASON) or '–'}",
            "",
            *links,
        ]
    )
    state = tags.get(names.TAG_SIGNOFF_STATE) or ""
    subject = f"Sign off {model} version {version} as @{names.CHAMPION}?"
    return {"model": model, "version": version, "state": state, "subject": subject, "body": body}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.signoff", description=__doc__)
    parser.add_argument("command", choices=("evidence", "decide"))
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", required=True)
    answers = (promotion.APPROVED, promotion.REJECTED, promotion.TIMED_OUT)
    parser.add_argument("--answer", choices=answers)
    parser.add_argument("--by", default="")
    parser.add_argument("--reason", default="")
    parser.add_argument("--settings", default="{}", help="pipeline settings (JSON)")
    args = parser.parse_args(argv)
    uri, _ = Settings.from_json(args.settings).tracking()
    client = tracking.client(uri)
    if args.command == "evidence":
        found = evidence(client, uri, args.model, args.version)
        return results.finish(f"evidence of {args.model} version {args.version}", found)
    if not args.answer or not args.by:
        parser.error("decide needs --answer and --by")
    try:
        done = promotion.sign_off(
            client, args.model, args.version, args.answer, args.by, args.reason
        )
    except promotion.SignOffError as e:
        print(f"SIGN-OFF REFUSED: {e}", file=sys.stderr, flush=True)
        return 2
    now = registry.version_by_alias(client, args.model, names.CHAMPION)
    done["champion"] = None if now is None else str(now.version)
    said = (
        f"SIGN-OFF: {args.model} version {args.version} {args.answer} by {args.by}; "
        f"@{names.CHAMPION} is version {done['champion']}"
    )
    return results.finish(said, done)


if __name__ == "__main__":
    sys.exit(main())
