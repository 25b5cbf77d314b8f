"""The ticket services: the only code that changes tickets (see tickets.py)."""

from .inbound import email_receive
from .reminders import reminder_create, reminder_done, reminder_reschedule
from .sla import policy_for
from .sweeps import reminder_sweep, ticket_autoclose_sweep, ticket_sla_sweep
from .tickets import (
    ReplyAfter,
    TransitionError,
    can_change_status,
    support_data_erase,
    ticket_assign,
    ticket_classify,
    ticket_close,
    ticket_message_receive,
    ticket_note_add,
    ticket_open,
    ticket_open_again,
    ticket_order_set,
    ticket_reply,
    ticket_resolve,
    ticket_status_change,
    ticket_wait,
)

__all__ = [
    "ReplyAfter",
    "TransitionError",
    "can_change_status",
    "email_receive",
    "policy_for",
    "reminder_create",
    "reminder_done",
    "reminder_reschedule",
    "reminder_sweep",
    "support_data_erase",
    "ticket_assign",
    "ticket_autoclose_sweep",
    "ticket_classify",
    "ticket_close",
    "ticket_message_receive",
    "ticket_note_add",
    "ticket_open",
    "ticket_open_again",
    "ticket_order_set",
    "ticket_reply",
    "ticket_resolve",
    "ticket_sla_sweep",
    "ticket_status_change",
    "ticket_wait",
]
