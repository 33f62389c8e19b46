"""An Analysis as files a person reads: JSON, CSV, PNG plots and one self-contained HTML page.

Plots use matplotlib's Agg backend with fixed sizes, fonts and no timestamps in the PNG metadata, so the
same analysis renders to the same bytes. Numbers are converted to floats only to draw them.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.numbers import plain
from router.analysis import Analysis, DepthSnapshot


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(plain(value))
    if isinstance(value, dict):
        return {str(k): _text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value]
    return value


def _utc(ts_ns: int) -> str:
    """Replay time as text (from the data, never the wall clock)."""
    import datetime as dt

    t = dt.datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=dt.UTC)
    return f"{t:%Y-%m-%d %H:%M:%S}.{ts_ns % 1_000_000_000 // 1_000_000:03d} UTC"


def report_json(analysis: Analysis) -> bytes:
    body = {"summary": analysis.summary(), "parents": analysis.parent_rows()}
    return json.dumps(_text(body), sort_keys=True, indent=1).encode() + b"\n"


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    if rows:
        w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if v is None else _text(v)) for k, v in row.items()})
    return out.getvalue().encode()


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 9, "svg.hashsalt": "braid"})
    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    _figure().close(fig)
    return buf.getvalue()


def improvement_png(analysis: Analysis) -> bytes:
    plt = _figure()
    values = [float(r.improvement_bps) for _, r in analysis.runs if r.improvement_bps is not None]  # drawing only
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if values:
        ax.hist(values, bins=min(30, max(5, len(values) // 2)), color="#3b6ea5")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("price improvement vs best single venue (bps, positive = better)")
    ax.set_ylabel("parent orders")
    ax.set_title("Price improvement distribution")
    fig.tight_layout()
    return _png(fig)


def venue_share_png(analysis: Analysis) -> bytes:
    plt = _figure()
    share = analysis.summary()["venue_share"]
    fig, ax = plt.subplots(figsize=(6, 3))
    names = list(share)
    ax.bar(names, [float(share[n]) * 100 for n in names], color="#5a9e6f")  # drawing only
    ax.set_ylabel("share of filled quantity (%)")
    ax.set_title("Venue share of fills")
    fig.tight_layout()
    return _png(fig)


def depth_png(snap: DepthSnapshot) -> bytes:
    """Cumulative consolidated depth by venue at one moment (bids left, asks right)."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    venues = sorted({v for _, _, parts in snap.bids + snap.asks for v, _ in parts})
    colours = ["#3b6ea5", "#c0504d", "#5a9e6f", "#8064a2"]
    for i, venue in enumerate(venues):
        for levels, style in ((snap.bids, "-"), (snap.asks, "--")):
            xs, ys, total = [], [], Decimal(0)
            for price, _, parts in levels:
                total += dict(parts).get(venue, Decimal(0))
                xs.append(float(price))  # drawing only
                ys.append(float(total))
            if xs:
                ax.step(
                    xs,
                    ys,
                    style,
                    where="post",
                    color=colours[i % len(colours)],
                    label=f"{venue} {'bids' if style == '-' else 'asks'}",
                )
    ax.ticklabel_format(axis="x", useOffset=False, style="plain")
    ax.set_xlabel("price")
    ax.set_ylabel("cumulative quantity")
    ax.set_title(f"{snap.symbol} consolidated depth at {_utc(snap.ts_ns)}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def write_report(analysis: Analysis, out_dir: str | Path) -> dict[str, Path]:
    """Write report.json, parents.csv, fills.csv, the PNGs and report.html into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        "report.json": report_json(analysis),
        "parents.csv": _csv(analysis.parent_rows()),
        "fills.csv": _csv(analysis.fill_rows()),
        "improvement.png": improvement_png(analysis),
        "venue_share.png": venue_share_png(analysis),
    }
    depth_names = []
    for snap in analysis.depth:
        name = f"depth_{snap.symbol.replace('/', '')}_{snap.ts_ns}.png"
        files[name] = depth_png(snap)
        depth_names.append(name)
    files["report.html"] = _html(analysis, files, depth_names)
    paths = {}
    for name, data in files.items():
        path = out / name
        path.write_bytes(data)
        paths[name] = path
    return paths


def _html(analysis: Analysis, files: dict[str, bytes], depth_names: list[str]) -> bytes:
    def img(name: str) -> str:
        data = base64.b64encode(files[name]).decode()
        return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'

    s = _text(analysis.summary())
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape('' if v is None else str(_text(v)))}</td>"
            for v in (
                r["parent_id"],
                r["symbol"],
                r["side"],
                r["qty"],
                r["filled"],
                r["status"],
                r["avg_price"],
                r["fees"],
                r["slippage_bps"],
                r["improvement_bps"],
                r["best_single_venue"],
            )
        )
        + "</tr>"
        for r in analysis.parent_rows()
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Braid routing report</title>",
        (
            "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}td,th{padding:2px 6px;text-align:right}"
            "table{border-collapse:collapse}tr:nth-child(even){background:#f3f3f3}</style></head><body>"
        ),
        "<h1>Routing report</h1>",
        (
            f"<p>{s['parents']} parent orders, {s['filled_parents']} filled at least in part; "
            f"filled {s['filled_qty']} of {s['requested_qty']}. Statuses: {html.escape(json.dumps(s['statuses']))}.</p>"
        ),
        "<h2>Summary</h2><table><tr><th></th><th>min</th><th>p5</th><th>p25</th><th>median</th><th>p75</th><th>p95</th><th>max</th></tr>",
    ]
    for name in ("improvement_bps", "slippage_bps"):
        q = s[name]
        parts.append(
            f"<tr><th>{name}</th>"
            + "".join(
                f"<td>{q[k] if q[k] is not None else '-'}</td>"
                for k in ("min", "p5", "p25", "median", "p75", "p95", "max")
            )
            + "</tr>"
        )
    parts.append("</table>")
    parts.append("<h2>Price improvement</h2>" + img("improvement.png"))
    parts.append("<h2>Venue share</h2>" + img("venue_share.png"))
    if depth_names:
        parts.append("<h2>Consolidated depth</h2>" + "".join(img(n) for n in depth_names))
    parts.append(
        "<h2>Parent orders</h2><table><tr><th>id</th><th>symbol</th><th>side</th><th>qty</th><th>filled</th>"
        "<th>status</th><th>avg price</th><th>fees</th><th>slippage bps</th><th>improvement bps</th>"
        "<th>best single venue</th></tr>" + rows + "</table></body></html>"
    )
    return "".join(parts).encode()
