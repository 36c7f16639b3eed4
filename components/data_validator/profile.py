"""The data profile: TFDV's statistics and the anomalies found, as one self-contained HTML page.

Per split: a table of every column (type, present and missing share, mean / std / min / max or
distinct values and the most frequent ones) beside the previous span's numbers, and a picture
(`profile.png`, embedded in the page) of each column's distribution, this span against the
previous one. On top, the problems validation found, failing or accepted.

Pure functions over TFDV's protos; matplotlib draws the picture. No JavaScript and nothing
fetched: the page opens offline, from MLflow's artifact view or the file itself.
"""

from __future__ import annotations

import base64
import html
import io

from components.data_validator.checks import Problem, _name

PICTURE = "profile.png"
PAGE = "profile.html"


def _dataset(stats):
    return stats.datasets[0] if stats is not None and stats.datasets else None


def _features(dataset) -> dict:
    return {_name(f): f for f in dataset.features} if dataset is not None else {}


def _common(feature):
    kind = feature.WhichOneof("stats")
    return getattr(feature, kind).common_stats if kind else None


def missing_share(feature, num_examples: int) -> float:
    common = _common(feature)
    if common is None or not num_examples:
        return 0.0
    return common.num_missing / num_examples


def _numeric(feature) -> bool:
    return feature.WhichOneof("stats") == "num_stats"


def _summary(feature, n: int) -> dict:
    out = {"missing": missing_share(feature, n)}
    if _numeric(feature):
        s = feature.num_stats
        out.update(mean=s.mean, std=s.std_dev, min=s.min, max=s.max)
    elif feature.WhichOneof("stats") == "string_stats":
        s = feature.string_stats
        out.update(unique=s.unique, top=[(v.value, int(v.frequency)) for v in s.top_values[:3]])
    return out


def _fmt(x) -> str:
    return "" if x is None else f"{x:.4g}" if isinstance(x, float) else html.escape(str(x))


def _histogram(feature):
    """(labels or edges, counts) of a column: standard histogram buckets or top values."""
    if _numeric(feature):
        for h in feature.num_stats.histograms:
            if h.type == h.STANDARD and h.buckets:
                return [b.low_value for b in h.buckets] + [h.buckets[-1].high_value], [
                    b.sample_count for b in h.buckets
                ]
        return None
    s = feature.string_stats
    if s.rank_histogram.buckets:
        return [b.label for b in s.rank_histogram.buckets[:10]], [
            b.sample_count for b in s.rank_histogram.buckets[:10]
        ]
    return [v.value for v in s.top_values[:10]], [v.frequency for v in s.top_values[:10]]


def picture(current, previous=None, title: str = "") -> bytes:
    """A PNG with one panel per column: this span (filled) against the previous (outline),
    each normalised to shares so spans of different sizes compare."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cur, prev = _features(_dataset(current)), _features(_dataset(previous))
    n_cur = _dataset(current).num_examples if _dataset(current) else 0
    n_prev = _dataset(previous).num_examples if _dataset(previous) else 0
    names = sorted(cur)
    cols = 3
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names, strict=False):
        f = cur[name]
        hist = _histogram(f)
        label = f"{name}  missing {100 * missing_share(f, n_cur):.1f}%"
        if name in prev:
            label += f" (prev {100 * missing_share(prev[name], n_prev):.1f}%)"
        ax.set_title(label, fontsize=8.5)
        if hist is None:
            continue
        edges, counts = hist
        total = sum(counts) or 1
        if _numeric(f):
            ax.stairs([c / total for c in counts], edges, fill=True, alpha=0.55, label="this span")
            ph = _histogram(prev[name]) if name in prev and _numeric(prev[name]) else None
            if ph:
                ax.stairs(
                    [c / (sum(ph[1]) or 1) for c in ph[1]], ph[0], color="k", label="previous"
                )
        else:
            labels = [str(v) for v in edges]
            ax.bar(labels, [c / total for c in counts], alpha=0.55, label="this span")
            ph = _histogram(prev[name]) if name in prev and not _numeric(prev[name]) else None
            if ph:
                shares = dict(zip(ph[0], ph[1], strict=False))
                ptotal = sum(ph[1]) or 1
                ax.plot(
                    labels,
                    [shares.get(v, 0) / ptotal for v in edges],
                    "k_",
                    ms=18,
                    mew=2,
                    label="previous",
                )
            ax.tick_params(axis="x", labelsize=7, rotation=20)
        ax.tick_params(labelsize=7)
    if previous is not None and names:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _split_table(current, previous) -> str:
    ds, pds = _dataset(current), _dataset(previous)
    cur, prev = _features(ds), _features(pds)
    n, pn = (ds.num_examples if ds else 0), (pds.num_examples if pds else 0)
    head = (
        "<tr><th>column</th><th>type</th><th>missing</th><th>mean</th><th>std</th><th>min</th>"
        "<th>max</th><th>distinct</th><th>most frequent</th>"
        + ("<th>previous: missing</th><th>previous: mean</th>" if pds else "")
        + "</tr>"
    )
    body = []
    for name in sorted(cur):
        s = _summary(cur[name], n)
        top = ", ".join(f"{html.escape(v)} ({c})" for v, c in s.get("top", []))
        cells = [
            html.escape(name),
            "numeric" if _numeric(cur[name]) else "categorical",
            f"{100 * s['missing']:.1f}%",
            *(_fmt(s.get(k)) for k in ("mean", "std", "min", "max", "unique")),
            top,
        ]
        if pds:
            p = _summary(prev[name], pn) if name in prev else None
            cells += [f"{100 * p['missing']:.1f}%", _fmt(p.get("mean"))] if p else ["(new)", ""]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    gone = sorted(set(prev) - set(cur))
    note = f"<p>Columns of the previous span missing here: {html.escape(', '.join(gone))}</p>"
    return (
        f"<p>{n} rows" + (f"; previous span {pn} rows" if pds else "; no previous span") + "</p>"
        f"<table>{head}{''.join(body)}</table>" + (note if gone else "")
    )


def render(
    splits: dict,
    previous: dict,
    failing: list[Problem],
    accepted: list[Problem],
    source: str,
    against: str,
) -> tuple[str, bytes]:
    """(HTML page, the train split's PNG). `splits`/`previous`: split -> statistics (or None)."""
    first = "train" if "train" in splits else sorted(splits)[0]
    png = picture(splits[first], previous.get(first), f"{source} ({first} split)")
    problems = [("failing", p) for p in failing] + [("accepted", p) for p in accepted]
    rows = "".join(
        f"<tr class='{s}'><td>{s}</td><td>{html.escape(p.column)}</td><td>{html.escape(p.kind)}"
        f"</td><td>{html.escape(p.description)}</td><td>{html.escape(p.split)}</td></tr>"
        for s, p in problems
    )
    verdict = (
        f"<p class='failing'><b>Rejected:</b> {len(failing)} problem(s); nothing was trained.</p>"
        if failing
        else f"<p><b>Accepted</b> ({len(accepted)} accepted anomalies).</p>"
    )
    sections = "".join(
        f"<h2>split {html.escape(split)}</h2>{_split_table(stats, previous.get(split))}"
        for split, stats in sorted(splits.items())
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Data profile</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:13px}} .failing{{color:#b00}}
img{{max-width:100%}}</style></head><body>
<h1>Data profile: {html.escape(source)}</h1>
<p>Validated against {html.escape(against)}.</p>{verdict}
<h2>Problems</h2>{
        "<table><tr><th>status</th><th>column</th><th>kind</th><th>description</th>"
        f"<th>split</th></tr>{rows}</table>"
        if problems
        else "<p>None.</p>"
    }
<h2>Distributions ({html.escape(first)} split; outline: the previous span)</h2>
<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="distributions">
{sections}</body></html>"""
    return page, png
