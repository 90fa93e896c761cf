"""A project's activity for the admin: rows accepted today, in 7 days, and a 30-day bar chart beside
the rejected rows by code (counters in Redis: storage/redis/counters.py). Inline SVG, no JavaScript."""
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from storage.redis import counters

DAYS = 30
WIDTH, HEIGHT, GAP = 8, 60, 2


def accepted_summary(project_ids: list[str], today: date) -> dict[str, tuple[int, int]]:
    """{project id: (accepted today, accepted in the last 7 days)}; one round trip. Raises RedisError."""
    days = counters.accepted_by_day(project_ids, today, days=7)
    return {project: (counts[0][1], sum(count for _, count in counts)) for project, counts in days.items()}


def bar_chart(series: list[tuple[str, int]], label: str, css_class: str) -> str:
    """An SVG bar per day, oldest on the left; each bar's title gives the day and the count."""
    ordered = list(reversed(series))
    top = max((count for _, count in ordered), default=0) or 1
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
        (
            (i * (WIDTH + GAP), HEIGHT - max(1 if count else 0, round(count / top * HEIGHT)), WIDTH,
             max(1 if count else 0, round(count / top * HEIGHT)), day, f"{count:,}")
            for i, (day, count) in enumerate(ordered)
        ),
    )  # fmt: skip
    return format_html(
        '<svg class="spool-chart {}" role="img" aria-label="{}" width="{}" height="{}" '
        'viewBox="0 0 {} {}" style="fill: currentColor">{}</svg>',
        css_class, label, len(ordered) * (WIDTH + GAP), HEIGHT, len(ordered) * (WIDTH + GAP), HEIGHT, bars,
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
