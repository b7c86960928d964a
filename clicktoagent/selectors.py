"""The app's public selectors, in one place for host projects (e.g.
``call_attempt_visible_to`` and ``call_attempt_can_act``, docs/api.md).

They live beside what they read: call attempts in ``clicktoagent.calls.selectors``,
agents and queues in ``clicktoagent.directory``.
"""

from .calls.selectors import (
    CANNOT_ACT_MESSAGE,
    AgentSuccessRate,
    DailyAttemptCounts,
    agent_success_rates,
    call_attempt_can_act,
    call_attempt_daily_counts,
    call_attempt_list,
    call_attempt_list_for_contact,
    call_attempt_visible_to,
    call_attempt_visible_to_all,
)
from .directory import agent_first_queue, agent_for_user, agent_list, queue_list

__all__ = [
    "CANNOT_ACT_MESSAGE",
    "AgentSuccessRate",
    "DailyAttemptCounts",
    "agent_first_queue",
    "agent_for_user",
    "agent_list",
    "agent_success_rates",
    "call_attempt_can_act",
    "call_attempt_daily_counts",
    "call_attempt_list",
    "call_attempt_list_for_contact",
    "call_attempt_visible_to",
    "call_attempt_visible_to_all",
    "queue_list",
]
