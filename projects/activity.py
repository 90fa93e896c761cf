"""A project's activity for the admin: rows accepted today, in 7 days, and a 30-day bar chart beside
the rejected rows by code (counters in Redis: storage/redis/counters.py). Inline SVG, no JavaScript."""
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from storage.redis import counters

DAYS = 30
WIDTH, HEIGHT, GAP = 8, 60, 2  # a bar, the plot's height, the space between bars
LEFT, TOP, BOTTOM = 44, 8, 16  # room for the scale on the left and the dates below


def accepted_summary(project_ids: list[str], today: date) -> dict[str, tuple[int, int]]:
    """{project id: (accepted today, accepted in the last 7 days)}; one round trip. Raises RedisError."""
    days = counters.accepted_by_day(project_ids, today, days=7)
    return {project: (counts[0][1], sum(count for _, count in counts)) for project, counts in days.items()}


def nice_top(count: int) -> int:
    """The scale's top: the smallest 1, 2 or 5 times a power of ten at or above `count` (1 for 0)."""
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power >= count:
                return step * power
        power *= 10


def _bars(ordered: list[tuple[str, int]], top: int) -> str:
    def height(count: int) -> int:
        return max(1 if count else 0, round(count / top * HEIGHT))

    return format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
        ((LEFT + i * (WIDTH + GAP), TOP + HEIGHT - height(count), WIDTH, height(count), day, f"{count:,}")
         for i, (day, count) in enumerate(ordered)),
    )  # fmt: skip


def _axes(ordered: list[tuple[str, int]], top: int) -> str:
    """The scale (0, half when whole, top) with its grid lines, the base line, and the first, middle and last dates."""
    right = LEFT + len(ordered) * (WIDTH + GAP)
    scale = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ccc" stroke-dasharray="{}"/>'
        '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
        ((LEFT, right, TOP + HEIGHT - share * HEIGHT // 2, TOP + HEIGHT - share * HEIGHT // 2, "2" if share else "0",
          LEFT - 4, TOP + HEIGHT - share * HEIGHT // 2, f"{top * share // 2:,}")
         for share in ((0, 1, 2) if top % 2 == 0 else (0, 2))),  # a half line only where it is a whole count
    )  # fmt: skip
    # The first and last dates stay inside the chart: anchored at their outer edge.
    marks = [(0, "start"), (len(ordered) // 2, "middle"), (len(ordered) - 1, "end")] if ordered else []
    dates = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="{}">{}</text>',
        ((LEFT + i * (WIDTH + GAP) + {"start": 0, "middle": WIDTH // 2, "end": WIDTH}[anchor],
          TOP + HEIGHT + BOTTOM - 3, anchor, ordered[i][0][5:]) for i, anchor in marks),
    )  # fmt: skip
    return format_html("{}{}", scale, dates)


def bar_chart(series: list[tuple[str, int]], label: str, css_class: str) -> str:
    """An SVG bar per day, oldest on the left, over a scale and the dates (month-day, UTC); each bar's
    title gives the day and the count."""
    ordered = list(reversed(series))
    top = nice_top(max((count for _, count in ordered), default=0))
    width, height = LEFT + len(ordered) * (WIDTH + GAP) + 4, TOP + HEIGHT + BOTTOM
    return format_html(
        '<svg class="spool-chart {}" role="img" aria-label="{}" width="{}" height="{}" viewBox="0 0 {} {}">'
        '<g class="spool-axes">{}</g><g style="fill: currentColor">{}</g></svg>',
        css_class, label, width, height, width, height, _axes(ordered, top), _bars(ordered, top),
    )  # fmt: skip


def activity_html(project_id: str, today: date) -> str:
    """The accepted and rejected rows of 30 days, as two charts and the rejection codes' totals."""
    accepted = counters.accepted_by_day([project_id], today, days=DAYS)[project_id]
    rejected = counters.rejected_by_day(project_id, today, days=DAYS)
    by_code: dict[str, int] = {}
    for _, counts in rejected:
        for code, count in counts.items():
            by_code[code] = by_code.get(code, 0) + count
    ranked = sorted(by_code.items(), key=lambda item: -item[1])
    codes = format_html_join(
        "", "<tr><td>{}</td><td class='spool-count'>{}</td></tr>", ((code, f"{count:,}") for code, count in ranked)
    )
    return format_html(
        '<div class="spool-activity" style="display: flex; gap: 2em; flex-wrap: wrap">'
        '<div><strong>accepted</strong>: today <span class="spool-accepted-today">{}</span>, '
        '7 days <span class="spool-accepted-7d">{}</span>, 30 days {}<br>'
        '<span style="color: #417690">{}</span></div>'
        '<div><strong>rejected</strong>: 30 days <span class="spool-rejected-30d">{}</span><br>'
        '<span style="color: #ba2121">{}</span></div>'
        '<div><table><thead><tr><th>rejected by code, 30 days</th><th>rows</th></tr></thead>'
        "<tbody>{}</tbody></table></div></div>",
        f"{accepted[0][1]:,}", f"{sum(c for _, c in accepted[:7]):,}", f"{sum(c for _, c in accepted):,}",
        bar_chart(accepted, "rows accepted per day, 30 days", "spool-accepted-chart"),
        f"{sum(by_code.values()):,}",
        bar_chart([(day, sum(counts.values())) for day, counts in rejected], "rows rejected per day, 30 days",
                  "spool-rejected-chart"),
        codes or mark_safe("<tr><td colspan='2'>none</td></tr>"),  # noqa: S308 - a constant
    )  # fmt: skip
