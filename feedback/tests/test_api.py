"""The tickets API as CONTRACT.md promises it, its actions (409 for the impossible),
messages, reminders, SLA policies and the service figures; roles and bad input."""

from datetime import timedelta

import pytest

from customers.models import Entry, Message
from feedback.models import Reminder, Ticket, TicketStatus

from .conftest import NOW

pytestmark = pytest.mark.django_db

NEW_TICKET = {"customer_email": "ann@example.com", "subject": "Broken parcel", "description": "It arrived broken."}


def test_creating_a_ticket_returns_its_reference_and_deadlines(clock, agent_api):
    response = agent_api.post("/api/tickets/", NEW_TICKET, format="json")
    assert response.status_code == 201
    body = response.json()
    ticket = Ticket.objects.get()
    assert body["id"] == ticket.pk and body["reference"] == ticket.reference and body["status"] == "new"
    assert body["acknowledge_by"] == "2026-11-23T10:00:00Z"
    assert body["resolve_by"] == "2026-11-26T09:00:00Z"
    assert ticket.channel == "api" and ticket.kind == "question" and ticket.priority == "normal"
    assert Message.objects.filter(key=f"ticket:{ticket.pk}:ack").exists()


def test_a_ticket_posted_again_with_its_idempotency_key_is_one_ticket_and_one_email(clock, agent_api):
    """A shop that lost the answer (a timeout) and retries would have opened a second
    ticket and sent the customer a second acknowledgment."""
    first = agent_api.post("/api/tickets/", NEW_TICKET, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    again = agent_api.post("/api/tickets/", NEW_TICKET, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Ticket.objects.count() == 1 and Message.objects.filter(key__endswith=":ack").count() == 1
    other = agent_api.post(
        "/api/tickets/", {**NEW_TICKET, "subject": "Another"}, format="json", HTTP_IDEMPOTENCY_KEY="t-1"
    )
    assert other.status_code == 422 and Ticket.objects.count() == 1
    reminder = {"ticket": first.json()["id"], "kind": "call", "due_at": "2026-11-24T10:00:00Z", "note": "Call"}
    for _ in range(2):
        assert agent_api.post("/api/reminders/", reminder, format="json", HTTP_IDEMPOTENCY_KEY="r-1").status_code == 201
    assert Reminder.objects.count() == 1


def test_an_assignee_with_a_nul_character_is_a_400(clock, agent_api):
    """PostgreSQL refuses a NUL in text: the username lookup was a 500 (the fuzz test)."""
    ticket_id = agent_api.post("/api/tickets/", NEW_TICKET, format="json").json()["id"]
    reminder = {"ticket": ticket_id, "due_at": "2026-11-24T10:00:00Z", "assignee": "agent\x00"}
    response = agent_api.post("/api/reminders/", reminder, format="json")
    assert response.status_code == 400 and "assignee" in response.json()
    response = agent_api.patch(f"/api/tickets/{ticket_id}/", {"assignee": "a\x00"}, format="json")
    assert response.status_code == 400 and "assignee" in response.json()
    assert not Reminder.objects.exists()


def test_optional_fields_are_honoured(clock, agent_api):
    response = agent_api.post(
        "/api/tickets/",
        {**NEW_TICKET, "customer_name": "Ann", "kind": "complaint", "channel": "phone", "priority": "urgent"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["resolve_by"] == "2026-11-23T13:00:00Z"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_email": "nope"}, "customer_email"),
        ({"customer_email": None}, "customer_email"),
        ({"subject": ""}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"description": "x" * 20001}, "description"),
        ({"priority": "asap"}, "priority"),
        ({"kind": "rant"}, "kind"),
        ({"channel": "pigeon"}, "channel"),
    ],
)
def test_bad_input_is_a_400_per_field_and_saves_nothing(agent_api, change, field):
    response = agent_api.post("/api/tickets/", {**NEW_TICKET, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Ticket.objects.exists() and not Message.objects.exists()


def test_actions_change_the_status_and_the_impossible_is_a_409(agent_api):
    ticket_id = agent_api.post("/api/tickets/", NEW_TICKET, format="json").json()["id"]
    assert agent_api.post(f"/api/tickets/{ticket_id}/wait/").json()["status"] == "waiting"
    assert agent_api.post(f"/api/tickets/{ticket_id}/reopen/").json()["status"] == "open"
    resolved = agent_api.post(f"/api/tickets/{ticket_id}/resolve/", {"text": "Done"}, format="json")
    assert resolved.json()["status"] == "resolved"
    assert agent_api.post(f"/api/tickets/{ticket_id}/close/").json()["status"] == "closed"
    response = agent_api.post(f"/api/tickets/{ticket_id}/wait/")
    assert response.status_code == 409
    assert response.json()["detail"] == "A ticket in status “Closed” cannot move to “Waiting on customer”."
    assert Ticket.objects.get().status == TicketStatus.CLOSED


def test_an_unknown_ticket_is_a_404(agent_api):
    assert agent_api.get("/api/tickets/999/").status_code == 404
    assert agent_api.post("/api/tickets/999/resolve/").status_code == 404


def test_messages_reply_note_call_and_the_customers_word(clock, agent_api, agent):
    ticket_id = agent_api.post("/api/tickets/", NEW_TICKET, format="json").json()["id"]
    reply = agent_api.post(f"/api/tickets/{ticket_id}/messages/", {"type": "reply", "text": "On it"}, format="json")
    assert reply.status_code == 201 and reply.json()["kind"] == "ticket_reply" and reply.json()["author"] == "agent"
    note = agent_api.post(f"/api/tickets/{ticket_id}/messages/", {"type": "note", "text": "x"}, format="json")
    assert note.status_code == 201
    chat = agent_api.post(
        f"/api/tickets/{ticket_id}/messages/", {"type": "customer", "text": "Thanks!", "channel": "chat"}, format="json"
    )
    assert chat.status_code == 201 and chat.json()["entry"] == Entry.INBOUND
    conversation = agent_api.get(f"/api/tickets/{ticket_id}/messages/").json()
    assert [message["entry"] for message in conversation] == ["inbound", "outbound", "outbound", "note", "inbound"]
    bad = agent_api.post(f"/api/tickets/{ticket_id}/messages/", {"type": "shout", "text": ""}, format="json")
    assert bad.status_code == 400 and set(bad.json()) == {"type", "text"}


def test_patch_changes_priority_and_assignee_through_the_services(clock, agent_api, agent):
    ticket_id = agent_api.post("/api/tickets/", NEW_TICKET, format="json").json()["id"]
    response = agent_api.patch(f"/api/tickets/{ticket_id}/", {"priority": "urgent", "assignee": "agent"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["priority"] == "urgent" and body["assignee"] == "agent" and body["status"] == "open"
    assert body["resolve_by"] == "2026-11-23T13:00:00Z"
    assert agent_api.patch(f"/api/tickets/{ticket_id}/", {"assignee": "nobody"}, format="json").status_code == 400


def test_filters_find_tickets(agent_api):
    agent_api.post("/api/tickets/", NEW_TICKET, format="json")
    other = {**NEW_TICKET, "customer_email": "bo@example.com", "priority": "high"}
    agent_api.post("/api/tickets/", other, format="json")
    assert len(agent_api.get("/api/tickets/?priority=high").json()["results"]) == 1
    assert len(agent_api.get("/api/tickets/?customer_email=ANN@example.com").json()["results"]) == 1
    reference = Ticket.objects.order_by("id").first().reference
    assert agent_api.get(f"/api/tickets/?reference={reference}").json()["results"][0]["reference"] == reference
    assert agent_api.get("/api/tickets/?breached=true").json()["results"] == []


def test_reminders_are_scheduled_moved_and_done(clock, agent_api):
    ticket_id = agent_api.post("/api/tickets/", NEW_TICKET, format="json").json()["id"]
    reminder = {"ticket": ticket_id, "kind": "call", "due_at": "2026-11-24T10:00:00Z", "note": "Call"}
    response = agent_api.post("/api/reminders/", reminder, format="json")
    assert response.status_code == 201 and response.json()["assignee"] == "agent"
    reminder_id = response.json()["id"]
    moved = agent_api.patch(f"/api/reminders/{reminder_id}/", {"due_at": "2026-11-25T10:00:00Z"}, format="json")
    assert moved.json()["due_at"] == "2026-11-25T10:00:00Z"
    done = agent_api.post(f"/api/reminders/{reminder_id}/done/", {"outcome": "Reached her"}, format="json")
    assert done.status_code == 200 and done.json()["done_at"]
    assert agent_api.post("/api/reminders/", {"due_at": "2026-11-24T10:00:00Z"}, format="json").status_code == 400


def test_sla_policies_are_readable_in_order(agent_api, manager_api):
    policies = agent_api.get("/api/sla-policies/").json()
    assert [policy["name"] for policy in policies] == [
        "Top-tier complaints",
        "Unhappy survey answer",
        "Urgent",
        "High",
        "Low",
        "Default",
    ]
    assert policies[0]["tier"] is not None and policies[0]["answer_within"] == "00:30:00"
    assert policies[-1]["is_default"] and policies[2]["resolve_within"] == "04:00:00"
    assert manager_api.post("/api/sla-policies/", {"name": "x"}, format="json").status_code == 405  # read only


def test_roles(api_client, outsider, agent_api, manager_api):
    assert api_client.get("/api/tickets/").status_code in (401, 403)
    api_client.force_authenticate(outsider)
    assert api_client.get("/api/tickets/").status_code == 403
    assert api_client.post("/api/tickets/", NEW_TICKET, format="json").status_code == 403
    assert agent_api.get("/api/metrics/service/?start=2026-11-01&end=2026-11-30").status_code == 403
    assert manager_api.get("/api/metrics/service/?start=2026-11-01&end=2026-11-30").status_code == 200


def test_service_figures_refuse_a_bad_period(manager_api):
    response = manager_api.get("/api/metrics/service/?start=2026-11-30&end=2026-11-01")
    assert response.status_code == 400 and "end" in response.json()
    assert manager_api.get("/api/metrics/service/?start=nope&end=2026-11-01").status_code == 400


def test_the_schema_documents_the_ticket_endpoints(manager_api):
    schema = manager_api.get("/api/schema/?format=json").json()
    routes = ("/api/tickets/", "/api/tickets/{id}/resolve/", "/api/tickets/{id}/messages/", "/api/reminders/")
    for route in (*routes, "/api/metrics/service/"):
        assert route in schema["paths"], route


def test_deadlines_in_the_response_match_the_row(clock, agent_api):
    body = agent_api.post("/api/tickets/", NEW_TICKET, format="json").json()
    assert body["resolve_by"] == (NOW + timedelta(days=3)).isoformat().replace("+00:00", "Z")
