"""nDCG@10 per retrieval stage as an SVG bar chart, from `evaluate_retrieval --json` reports.

Usage: .venv/bin/python bench/plot_retrieval.py BASE.json [TUNED.json] --out docs/retrieval-scifact.svg
Bars: lexical (ours), bm25s, dense, hybrid, for the base model and, given a second report, the
tuned one. Plain SVG written by hand: no plotting library to install for one figure.
"""

import argparse
import json
from html import escape
from pathlib import Path

STAGES = [("lexical", "lexical (our BM25)"), ("bm25s", "bm25s"), ("dense", "dense"), ("hybrid", "hybrid")]
COLOURS = ["#4c72b0", "#dd8452"]
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 320, 50, 60, 40


def values(report: dict) -> list[float | None]:
    """nDCG@10 of each stage; hybrid with the configured weight, as the product ranks."""
    return [report[name]["ndcg@10"] if name in report else None for name, _ in STAGES]


def svg(series: list[tuple[str, list[float | None]]], title: str) -> str:
    low, high = 0.5, 0.8
    plot_h = HEIGHT - BOTTOM - TOP
    group_w = (WIDTH - LEFT - 20) / len(STAGES)
    bar_w = group_w * 0.7 / len(series)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (min(max(value, low), high) - low) / (high - low))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" '
        f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    for tick in [0.5, 0.6, 0.7, 0.8]:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - 20}" y1="{y(tick)}" y2="{y(tick)}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4}" text-anchor="end">{tick:.1f}</text>')
    for g, (_, label) in enumerate(STAGES):
        x0 = LEFT + g * group_w + group_w * 0.15
        for s, (_, row) in enumerate(series):
            value = row[g]
            if value is None:
                continue
            x = x0 + s * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{bar_w - 2:.1f}" height="{y(low) - y(value):.1f}" '
                f'fill="{COLOURS[s % len(COLOURS)]}"/>'
            )
            parts.append(f'<text x="{x + bar_w / 2 - 1:.1f}" y="{y(value) - 4:.1f}" text-anchor="middle" '
                         f'font-size="10">{value:.3f}</text>')  # fmt: skip
        parts.append(f'<text x="{x0 + group_w * 0.35:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
                     f"{escape(label)}</text>")  # fmt: skip
    for s, (name, _) in enumerate(series):
        x = LEFT + s * 160
        parts.append(f'<rect x="{x}" y="{HEIGHT - 22}" width="12" height="12" fill="{COLOURS[s % len(COLOURS)]}"/>')
        parts.append(f'<text x="{x + 18}" y="{HEIGHT - 12}">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=Path, nargs="+", help="evaluate_retrieval --json output: base, then tuned")
    parser.add_argument("--names", nargs="+", default=["base model", "tuned model"])
    parser.add_argument("--title", default="SciFact (training claims, held-out half): nDCG@10")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    names = args.names[: len(args.reports)]
    series = [(n, values(json.loads(path.read_text()))) for n, path in zip(names, args.reports, strict=True)]
    args.out.write_text(svg(series, args.title))
    print(f"wrote {args.out}: " + "; ".join(f"{n} {v}" for n, v in series))


if __name__ == "__main__":
    main()
