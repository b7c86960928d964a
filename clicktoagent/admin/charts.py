"""Server-rendered SVG charts for the dashboard: geometry here, markup in the template."""

from __future__ import annotations

from dataclasses import dataclass

from ..calls.selectors import AgentSuccessRate, DailyAttemptCounts
from ..models import CallAttempt

Status = CallAttempt.Status

# Stack order, bottom to top; "other" is pending, dispatching and cancelled.
SERIES = (
    ("placed", "Placed"),
    ("failed", "Failed"),
    ("unknown", "Unknown"),
    ("other", "Pending or cancelled"),
)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css_class: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    rects: list[Rect]
    labels: list[Label]
    lines: list[tuple[float, float, float, float]]


def _nice_max(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5, 10, 20, 50, ...)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= max(value, 1):
                return step * factor
        step *= 10


def daily_chart(days: list[DailyAttemptCounts]) -> Chart:
    """Stacked bars: attempts per day by outcome."""
    left, right, top, bottom = 40, 10, 10, 40
    slot = max(12, min(48, 720 // max(len(days), 1)))
    width = left + right + slot * len(days)
    height = 260
    plot_height = height - top - bottom
    maximum = _nice_max(max((d.total for d in days), default=0))
    rects: list[Rect] = []
    labels: list[Label] = []
    lines: list[tuple[float, float, float, float]] = [
        (left, top + plot_height, width - right, top + plot_height)
    ]
    for tick in (0, maximum // 2, maximum):
        y = top + plot_height - plot_height * tick / maximum
        labels.append(Label(x=left - 6, y=y + 4, text=str(tick), anchor="end"))
        lines.append((left, y, width - right, y))
    label_every = max(1, len(days) // 12)
    for index, day in enumerate(days):
        x = left + index * slot + slot * 0.15
        bar_width = slot * 0.7
        base: float = top + plot_height
        values = {
            "placed": day.counts.get(Status.PLACED, 0),
            "failed": day.counts.get(Status.FAILED, 0),
            "unknown": day.counts.get(Status.UNKNOWN, 0),
        }
        values["other"] = day.total - sum(values.values())
        for key, name in SERIES:
            value = values[key]
            if not value:
                continue
            bar_height = plot_height * value / maximum
            base -= bar_height
            rects.append(
                Rect(
                    x=round(x, 1),
                    y=round(base, 1),
                    width=round(bar_width, 1),
                    height=round(bar_height, 1),
                    css_class=f"bar-{key}",
                    title=f"{day.day.isoformat()}: {value} {name.lower()}",
                )
            )
        if index % label_every == 0:
            labels.append(
                Label(x=x + bar_width / 2, y=height - bottom + 16, text=day.day.strftime("%m-%d"))
            )
    return Chart(width=width, height=height, rects=rects, labels=labels, lines=lines)


def agent_chart(rates: list[AgentSuccessRate]) -> Chart:
    """Horizontal bars: each agent's success rate (placed / finished)."""
    left, right, row, top = 180, 60, 26, 10
    width = 620
    height = top * 2 + row * max(len(rates), 1)
    plot_width = width - left - right
    rects: list[Rect] = []
    labels: list[Label] = []
    lines: list[tuple[float, float, float, float]] = [(left, top, left, height - top)]
    for index, rate in enumerate(rates):
        y = top + index * row
        value = rate.success_rate or 0.0
        percent = round(value * 100)
        name = str(rate.agent)
        labels.append(Label(x=left - 8, y=y + row * 0.65, text=name[:28], anchor="end"))
        rects.append(
            Rect(
                x=left,
                y=y + row * 0.15,
                width=round(plot_width * value, 1),
                height=round(row * 0.7, 1),
                css_class="bar-rate",
                title=f"{name}: {percent}% ({rate.placed} of {rate.finished} placed)",
            )
        )
        labels.append(
            Label(
                x=left + plot_width * value + 6,
                y=y + row * 0.65,
                text=f"{percent}%",
                anchor="start",
            )
        )
    return Chart(width=width, height=height, rects=rects, labels=labels, lines=lines)
