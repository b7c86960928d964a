"""Call attempts as people read them: status badges, reasons, outcome summaries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..models import CallAttempt

Status = CallAttempt.Status

IN_PROGRESS = CallAttempt.IN_PROGRESS


def status_badge(status: str) -> SafeString:
    """A coloured label for a status (the colours live in clicktoagent/admin.css)."""
    label = Status(status).label if status in Status.values else status
    return format_html(
        '<span class="clicktoagent-badge clicktoagent-badge-{}">{}</span>', status, label
    )


def attempt_reason(attempt: CallAttempt) -> str:
    """Why an attempt did not end ``placed``, in words an operator can act on."""
    if attempt.status == Status.PLACED:
        return ""
    if attempt.status == Status.UNKNOWN:
        detail = attempt.result_description or attempt.error
        prefix = "No usable answer from DialogTech: the contact may have been called."
        return f"{prefix} {detail}".strip()
    if attempt.status == Status.BLOCKED:
        return "Blocked by the safe-calling rules: " + violations_text(attempt)
    if attempt.status == Status.PENDING and attempt.violations and attempt.next_try_at:
        when = timezone.localtime(attempt.next_try_at).strftime("%Y-%m-%d %H:%M %Z")
        return f"Scheduled for {when}: {violations_text(attempt)}"
    if attempt.status in IN_PROGRESS:
        return "Queued: the call is being placed."
    if attempt.status == Status.CANCELLED:
        return "Cancelled before it was sent."
    return attempt.result_description or attempt.error or attempt.result or "Failed."


def violations_text(attempt: CallAttempt) -> str:
    """The safe-calling rules an attempt broke, as one text (every rule, not the first)."""
    messages = [str(v.get("message", "")) for v in attempt.violations or []]
    return " ".join(m for m in messages if m) or attempt.error


@dataclass
class OutcomeSummary:
    """Counts of a batch of attempts by outcome, with the sids and failure reasons."""

    placed: list[CallAttempt] = field(default_factory=list)
    failed: list[CallAttempt] = field(default_factory=list)
    unknown: list[CallAttempt] = field(default_factory=list)
    in_progress: list[CallAttempt] = field(default_factory=list)
    blocked: list[CallAttempt] = field(default_factory=list)
    other: list[CallAttempt] = field(default_factory=list)

    @classmethod
    def of(cls, attempts: Iterable[CallAttempt]) -> OutcomeSummary:
        summary = cls()
        for attempt in attempts:
            if attempt.status == Status.PLACED:
                summary.placed.append(attempt)
            elif attempt.status == Status.FAILED:
                summary.failed.append(attempt)
            elif attempt.status == Status.UNKNOWN:
                summary.unknown.append(attempt)
            elif attempt.status == Status.BLOCKED:
                summary.blocked.append(attempt)
            elif attempt.status in IN_PROGRESS:
                summary.in_progress.append(attempt)
            else:
                summary.other.append(attempt)
        return summary

    def as_text(self) -> str:
        """One line for a message: counts, sids, and each failure with its reason."""
        parts = [
            f"{len(self.placed)} placed",
            f"{len(self.failed)} failed",
            f"{len(self.unknown)} unknown",
        ]
        if self.in_progress:
            parts.append(f"{len(self.in_progress)} queued")
        if self.blocked:
            parts.append(f"{len(self.blocked)} blocked")
        text = ", ".join(parts) + "."
        if self.placed:
            text += " Sids: " + ", ".join(a.sid for a in self.placed) + "."
        for attempt in self.failed + self.unknown + self.blocked:
            text += f" Attempt {attempt.pk} ({attempt.phone_to_call}): {attempt_reason(attempt)}"
        return text
