"""Which split serves what, written once: ExampleGen makes these splits, and the Tuner, the
Trainer, the Evaluator, the pusher, the docs and the benches read their roles from here.

- `train`: what trials and the Trainer fit on; an epoch is one pass over it.
- `validation`: the search's scores, the Trainer's early stopping and best epoch, the binary
  decision threshold: everything that is chosen is chosen on it.
- `test`: the Evaluator's gate only (the candidate, the champion and the trivial baseline on
  the same rows). Nothing is ever chosen on it.

The default is 80/10/10 by a hash of the row (ExampleGen's hash buckets), so a row lands in the
same split on every retrain of the same rows. A dataset definition can set other ratios
(`split_ratios`) or name its own split column (`split_column`, whose values are the split names).

Standard library only.
"""

from __future__ import annotations

TRAIN = "train"
VALIDATION = "validation"
TEST = "test"
SPLITS = (TRAIN, VALIDATION, TEST)

# What each split serves (the README's and the docs' table is generated from this).
ROLES = {
    TRAIN: "trials and the Trainer fit on it (an epoch is one pass over it)",
    VALIDATION: "the search's scores, early stopping and the best epoch, the decision threshold",
    TEST: "the Evaluator's gate only: nothing is ever chosen on it",
}

# ExampleGen's hash buckets per split: 80/10/10.
DEFAULT_RATIOS = {TRAIN: 8, VALIDATION: 1, TEST: 1}

# The roles, by what reads them.
SEARCH = VALIDATION  # the trials' scores
EARLY_STOPPING = VALIDATION  # the Trainer's best epoch
THRESHOLD = VALIDATION  # the binary decision threshold
GATE = TEST  # the Evaluator


def folder(split: str) -> str:
    """The folder of a split inside an Examples artifact, as TFX names it."""
    return f"Split-{split}"


def problems(ratios: dict) -> list[str]:
    """What is wrong with split ratios {split: positive integer}: every split named, nothing
    else, each a whole number of hash buckets > 0."""
    out = []
    if set(ratios) != set(SPLITS):
        out.append(f"split_ratios must name exactly {list(SPLITS)}, got {sorted(ratios)}")
    bad = {
        k: v for k, v in ratios.items() if not isinstance(v, int) or isinstance(v, bool) or v < 1
    }
    if bad:
        out.append(f"split_ratios {bad}: each is a whole number >= 1 (hash buckets)")
    return out


def markdown_table() -> str:
    """The docs' table of which split serves what."""
    lines = ["| split | default share | serves |", "|---|---|---|"]
    total = sum(DEFAULT_RATIOS.values())
    for split in SPLITS:
        share = f"{100 * DEFAULT_RATIOS[split] / total:.0f}%"
        lines.append(f"| `{split}` | {share} | {ROLES[split]} |")
    return "\n".join(lines)
