"""Charts as inline SVG, drawn on the server: no chart library, nothing fetched.

Every label is escaped; the SVG uses presentation attributes only (no inline styles),
so the console's Content-Security-Policy needs no exception.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["columns", "rate_bars"]

_AXIS = "#6b7280"
_BAR = "#2563eb"
_UP = "#16a34a"
_DOWN = "#dc2626"


def columns(
    points: Sequence[tuple[str, int]], *, title: str, width: int = 720, height: int = 200
) -> Markup:
    """A column per (label, count), e.g. answers per day; every 7th label is written."""
    left, bottom, top = 36, 24, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max((n for _, n in points), default=0) or 1
    step = plot_w / max(len(points), 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" '
        f'stroke="{_AXIS}"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" font-size="10" '
        f'fill="{_AXIS}">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="10" '
        f'fill="{_AXIS}">0</text>',
    ]
    for i, (label, n) in enumerate(points):
        h = plot_h * n / peak
        x = left + i * step + step * 0.1
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{step * 0.8:.1f}" '
            f'height="{h:.1f}" fill="{_BAR}"><title>{escape(label)}: {n}</title></rect>'
        )
        last = len(points) - 1
        if i % 7 == 0 or (i == last and last % 7 >= 3):  # the last day, unless crowded
            parts.append(
                f'<text x="{x + step * 0.4:.1f}" y="{height - 8}" text-anchor="middle" '
                f'font-size="10" fill="{_AXIS}">{escape(label[5:])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def rate_bars(
    rows: Sequence[tuple[str, int, int]], *, title: str, width: int = 720, row_h: int = 22
) -> Markup:
    """A bar per (label, 👍, 👎): the 👍 share green, the 👎 share red, with the rate."""
    label_w, text_w = 200, 110
    bar_w = width - label_w - text_w
    height = row_h * max(len(rows), 1) + 4
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, ups, downs) in enumerate(rows):
        y = i * row_h + 2
        total = ups + downs
        up_w = bar_w * ups / total if total else 0
        shown = label if len(label) <= 28 else label[:27] + "…"
        rate = f"{ups / total:.0%} of {total}" if total else "no ratings"
        parts += [
            f'<text x="{label_w - 6}" y="{y + row_h * 0.65:.1f}" text-anchor="end" '
            f'font-size="12">{escape(shown)}<title>{escape(label)}</title></text>',
            f'<rect x="{label_w}" y="{y}" width="{up_w:.1f}" height="{row_h - 6}" fill="{_UP}"/>',
            f'<rect x="{label_w + up_w:.1f}" y="{y}" width="{bar_w - up_w:.1f}" '
            f'height="{row_h - 6}" fill="{_DOWN if total else _AXIS}"/>',
            f'<text x="{label_w + bar_w + 6}" y="{y + row_h * 0.65:.1f}" '
            f'font-size="12">{escape(rate)}</text>',
        ]
    parts.append("</svg>")
    return Markup("".join(parts))
