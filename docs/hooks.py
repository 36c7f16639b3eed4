"""The docs site's build hook (mkdocs.yml `hooks:`): fills in the tables generated from the code,
so the pages cannot drift from it. A line `<!-- generated: NAME -->` in a page is replaced, at
build time, by the table TABLES[NAME] returns; an unknown NAME fails the build.

Standard library and core/ only (core.settings imports nothing heavy), so it runs in the Airflow
environment, where MkDocs is, and in the tests of either tree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from core import settings, splits  # noqa: E402
from core.schema import OPERATOR, USER, markdown_table  # noqa: E402


def _table(who: str, first: str) -> str:
    chosen = [s for s in settings.SETTINGS.values() if s.who == who]
    return markdown_table(chosen, first, str(REPO))


TABLES = {
    "params": lambda: _table(USER, "Param"),
    "operator-settings": lambda: _table(OPERATOR, "Setting"),
    "splits": splits.markdown_table,
}
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.M)


def render(markdown: str) -> str:
    """`markdown` with every generated-table marker replaced by its table."""

    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in TABLES:
            raise ValueError(f"<!-- generated: {name} -->: no such table; known: {sorted(TABLES)}")
        return TABLES[name]()

    return MARKER.sub(fill, markdown)


def on_page_markdown(markdown: str, **_kwargs) -> str:
    return render(markdown)
