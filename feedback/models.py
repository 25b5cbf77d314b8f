"""Tickets with SLA deadlines and surveys: built in issues #3 and #4."""
