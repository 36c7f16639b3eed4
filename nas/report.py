"""The leaderboard (one row per trial), its Pareto front, and an HTML report with two plots:
best-so-far against compute, and score against parameter count with the Pareto front.
Plots are inline SVG, so the report is one self-contained file."""

from __future__ import annotations

import csv
import html
import io
import json

from nas import scores

# The leaderboard's columns, in order (CSV, and the HTML table without HTML_LEAVES_OUT).
COLUMNS = (
    "rank",
    "trial_id",
    "status",
    "score",
    "score_se",
    "score_mean",
    "score_std",
    "score_runs",
    "val_loss",
    "params",
    "latency_ms",
    "summary",
    "fidelity",
    "batch_size",
    "epochs",
    "best_epoch",
    "steps_per_epoch",
    "rows_per_epoch",
    "validation_rows",
    "examples_seen",
    "wall_s",
    "early_stopped",
    "stopped_by",
    "parent",
    "mutation",
    "pareto",
    "runner",
    "architecture",
)
HTML_LEAVES_OUT = ("latency_ms", "stopped_by", "mutation", "runner", "architecture")


def pareto_front(rows: list[dict], maximize: bool = True) -> set[str]:
    """Trial ids not dominated in (higher score, fewer parameters)."""
    scored = [r for r in rows if r.get("score") is not None]
    sign = 1 if maximize else -1
    front = set()
    for r in scored:
        dominated = any(
            sign * o["score"] >= sign * r["score"]
            and o["params"] <= r["params"]
            and (sign * o["score"] > sign * r["score"] or o["params"] < r["params"])
            for o in scored
        )
        if not dominated:
            front.add(r["trial_id"])
    return front


def rank(rows: list[dict], maximize: bool = True) -> list[dict]:
    """Rows sorted best first (unscored last), with `rank` and `pareto` filled in. Candidates
    the re-evaluation trained again (nas/estimation/reevaluate.py) come first, by their mean
    score: the winner was chosen among them on it. Equal scores: the lower validation loss
    first (nas/scores.py)."""
    front = pareto_front(rows, maximize)
    ordered = sorted(rows, key=lambda r: scores.rank_key(r, maximize))
    out = []
    for i, r in enumerate(ordered, 1):
        out.append(
            {
                **r,
                "rank": i if r.get("score") is not None else None,
                "pareto": r["trial_id"] in front,
            }
        )
    return out


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return buf.getvalue()


def _svg_plot(points, lines, xlabel, ylabel, title, log_x=False, highlight=()):
    """A minimal scatter/line plot. points: [(x, y, id)]; lines: [[(x, y), ...]]."""
    import math

    w, h, pad = 560, 340, 50
    xs = [p[0] for p in points] + [x for line in lines for x, _ in line]
    ys = [p[1] for p in points] + [y for line in lines for _, y in line]
    if not xs:
        return f"<p>{html.escape(title)}: no data</p>"
    fx = (lambda v: math.log10(max(v, 1))) if log_x else (lambda v: v)
    x0, x1 = min(map(fx, xs)), max(map(fx, xs))
    y0, y1 = min(ys), max(ys)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 0.01)

    def sx(v):
        return pad + (fx(v) - x0) / (x1 - x0) * (w - 2 * pad)

    def sy(v):
        return h - pad - (v - y0) / (y1 - y0) * (h - 2 * pad)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'class="plot" aria-label="{html.escape(title)}">',
        f'<text x="{w / 2}" y="20" text-anchor="middle" font-weight="bold">'
        f"{html.escape(title)}</text>",
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
        f'<text x="{w / 2}" y="{h - 10}" text-anchor="middle">{html.escape(xlabel)}</text>',
        f'<text x="15" y="{h / 2}" transform="rotate(-90 15 {h / 2})" text-anchor="middle">'
        f"{html.escape(ylabel)}</text>",
        f'<text x="{pad}" y="{h - pad + 15}" font-size="10">{(10**x0 if log_x else x0):.3g}</text>',
        f'<text x="{w - pad}" y="{h - pad + 15}" font-size="10" text-anchor="end">'
        f"{(10**x1 if log_x else x1):.3g}</text>",
        f'<text x="{pad - 5}" y="{h - pad}" font-size="10" text-anchor="end">{y0:.3f}</text>',
        f'<text x="{pad - 5}" y="{pad}" font-size="10" text-anchor="end">{y1:.3f}</text>',
    ]
    for line in lines:
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in line)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#d62728" stroke-width="2"/>')
    for x, y, pid in points:
        color = "#d62728" if pid in highlight else "#1f77b4"
        parts.append(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="{color}">'
            f"<title>trial {html.escape(str(pid))}: {y:.4f}</title></circle>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def best_so_far(rows_in_order: list[dict], maximize: bool = True) -> list[tuple[float, float]]:
    """(cumulative compute in example-epochs, best score so far), in the order trials ran."""
    out, compute, best = [], 0.0, None
    for r in rows_in_order:
        compute += r.get("examples_seen") or 0
        s = r.get("score")
        if s is not None and (best is None or (s > best if maximize else s < best)):
            best = s
        if best is not None:
            out.append((compute, best))
    return out


def render_html(rows_in_order: list[dict], title: str, maximize: bool = True, meta=None) -> str:
    ranked = rank(rows_in_order, maximize)
    front = {r["trial_id"] for r in ranked if r["pareto"]}
    curve = best_so_far(rows_in_order, maximize)
    plot1 = _svg_plot(
        [],
        [curve],
        "compute (examples x epochs)",
        "best score so far",
        "Best so far against compute",
    )
    scored = [r for r in ranked if r.get("score") is not None]
    pareto_line = sorted((r["params"], r["score"]) for r in scored if r["trial_id"] in front)
    plot2 = _svg_plot(
        [(r["params"], r["score"], r["trial_id"]) for r in scored],
        [pareto_line],
        "parameters (log scale)",
        "score",
        "Score against parameter count (Pareto front in red)",
        log_x=True,
        highlight=front,
    )
    head = [c for c in COLUMNS if c not in HTML_LEAVES_OUT]
    table = ["<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>"]
    for r in ranked:
        cells = []
        for c in head:
            v = r.get(c)
            if c == "score":  # with its standard error: 0.9312±0.0040
                v = scores.shown(v, r.get("score_se"))
            elif isinstance(v, float) and c.startswith(("score", "val_loss")):
                v = f"{v:.4f}"
            cells.append(f"<td>{html.escape('' if v is None else str(v))}</td>")
        table.append("<tr>" + "".join(cells) + "</tr>")
    table.append("</table>")
    meta_html = "".join(
        f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>"
        for k, v in (meta or {}).items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
        "font-size:12px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><ul>{meta_html}</ul>"
        f"<div>{plot1}</div><div>{plot2}</div><h2>Leaderboard</h2>{''.join(table)}"
        "</body></html>"
    )


def write_json(rows: list[dict]) -> str:
    return json.dumps(rows, indent=1, sort_keys=True, default=str)
