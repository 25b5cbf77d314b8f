"""The staff side: the queue (filters, the time-left column, actions, a pinned number
of queries), a ticket's page with its conversation and reply box, "my open tickets",
policies, reminders, the failed-email list, and the customer's timeline."""

from datetime import time, timedelta

import pytest
from django.contrib.auth.models import Group

from customers.models import Delivery, Entry, Message
from feedback.models import BusinessCalendar, BusinessHours, Reminder, SlaPolicy, Ticket, TicketStatus
from feedback.services import reminder_create, ticket_reply, ticket_sla_sweep

from .conftest import HOUR, NOW

pytestmark = pytest.mark.django_db


def test_the_roles_hold_the_ticket_permissions():
    agent = set(Group.objects.get(name="Support agent").permissions.values_list("codename", flat=True))
    manager = set(Group.objects.get(name="Support manager").permissions.values_list("codename", flat=True))
    assert {"view_ticket", "change_ticket", "add_reminder", "view_slapolicy"} <= agent
    assert not {"change_slapolicy", "view_service_metrics", "delete_ticket", "change_message"} & agent
    assert {"change_slapolicy", "change_cannedreply", "view_service_metrics", "change_message"} <= manager


def test_the_queue_shows_active_tickets_nearest_deadline_first(clock, open_ticket, agent_client, agent):
    sooner = open_ticket(email="sooner@example.com", priority="urgent")
    later = open_ticket(email="later@example.com", priority="low")  # a higher id, a later deadline
    ticket_reply(ticket=sooner, text="On it", author=agent)
    ticket_reply(ticket=later, text="On it", author=agent)
    done = open_ticket(email="done@example.com")
    Ticket.objects.filter(pk=done.pk).update(status=TicketStatus.CLOSED)
    html = agent_client.get("/admin/feedback/ticket/").content.decode()
    assert html.index(sooner.reference) < html.index(later.reference)
    assert done.reference not in html
    assert 'class="sla sla-ok"' in html  # both answered; resolution due in 4 h and 7 days
    assert done.reference in agent_client.get("/admin/feedback/ticket/?status=all").content.decode()


def test_the_queue_marks_breached_and_due_soon_and_filters_them(clock, open_ticket, agent_client, agent):
    late = open_ticket(email="late@example.com")
    soon = open_ticket(email="soon@example.com", priority="urgent")
    ticket_reply(ticket=soon, text="On it", author=agent)  # answered; resolution due at 13:00
    clock.shift(HOUR + timedelta(minutes=1))
    ticket_sla_sweep()  # `late` missed its first answer a minute ago
    html = agent_client.get("/admin/feedback/ticket/?deadline=breached").content.decode()
    assert late.reference in html and soon.reference not in html and "sla-late" in html
    html = agent_client.get("/admin/feedback/ticket/?deadline=soon").content.decode()
    assert soon.reference in html and late.reference not in html
    # On the ticket's page a missed deadline is said in red words, not Django's green tick.
    page = agent_client.get(f"/admin/feedback/ticket/{late.pk}/change/").content.decode()
    assert '<span class="sla sla-late">Late</span>' in page and "icon-yes.svg" not in page
    on_time = agent_client.get(f"/admin/feedback/ticket/{soon.pk}/change/").content.decode()
    assert "sla-late" not in on_time and "icon-no.svg" not in on_time


def test_the_queue_takes_a_fixed_number_of_queries(clock, open_ticket, agent_client, django_assert_max_num_queries):
    for number in range(3):
        open_ticket(email=f"a{number}@example.com")
    with django_assert_max_num_queries(12) as few:
        agent_client.get("/admin/feedback/ticket/")
    for number in range(30):
        open_ticket(email=f"b{number}@example.com")
    with django_assert_max_num_queries(len(few.captured_queries)):
        agent_client.get("/admin/feedback/ticket/")
    with django_assert_max_num_queries(len(few.captured_queries)):
        agent_client.get("/admin/feedback/ticket/?deadline=breached")


def test_search_by_reference_email_or_customer_id(open_ticket, agent_client):
    first = open_ticket(email="first@example.com")
    second = open_ticket(email="second@example.com")
    html = agent_client.get("/admin/feedback/ticket/", {"q": first.reference}).content.decode()
    assert first.reference in html and second.reference not in html
    html = agent_client.get("/admin/feedback/ticket/", {"q": "SECOND@example.com"}).content.decode()
    assert second.reference in html and first.reference not in html


def test_actions_assign_change_priority_and_resolve(clock, open_ticket, agent_client, agent):
    ticket = open_ticket()
    url = "/admin/feedback/ticket/"
    agent_client.post(url, {"action": "assign_to_me", "_selected_action": [ticket.pk]})
    agent_client.post(url, {"action": "make_urgent", "_selected_action": [ticket.pk]})
    ticket.refresh_from_db()
    assert ticket.assignee == agent and ticket.priority == "urgent" and ticket.resolve_by == NOW + 4 * HOUR
    agent_client.post(url, {"action": "resolve", "_selected_action": [ticket.pk]})
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED
    assert Message.objects.filter(kind="ticket_resolved", ticket=ticket).exists()
    response = agent_client.post(url, {"action": "make_low", "_selected_action": [ticket.pk]}, follow=True)
    agent_client.post(url + "?status=all", {"action": "close", "_selected_action": [ticket.pk]})
    response = agent_client.post(url + "?status=all", {"action": "close", "_selected_action": [ticket.pk]}, follow=True)
    assert "cannot move to “Closed”" in response.content.decode()


def change_form(ticket, **values):
    data = {
        "status": ticket.status,
        "priority": ticket.priority,
        "kind": ticket.kind,
        "assignee": ticket.assignee_id or "",
        "team": ticket.team_id or "",
        "order": ticket.order_id or "",
        "reply_mode": "email",
        "canned_reply": "",
        "reply_text": "",
        "reply_after": "keep",
        "reply_token": "t1",
    }
    data.update(values)
    return data


def test_the_ticket_page_shows_the_conversation_and_replies_by_email(clock, open_ticket, agent_client, agent):
    ticket = open_ticket()
    url = f"/admin/feedback/ticket/{ticket.pk}/change/"
    page = agent_client.get(url).content.decode()
    assert "My parcel never arrived." in page and 'name="reply_text"' in page
    response = agent_client.post(url, change_form(ticket, reply_text="A new one is on its way.", reply_after="wait"))
    assert response.status_code == 302, response.content.decode()[:2000]
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.WAITING and ticket.first_responded_at == NOW
    reply = Message.objects.get(kind="ticket_reply")
    assert reply.author == agent and "A new one is on its way." in reply.body
    # The same form sent twice (a double click) is one email.
    agent_client.post(url, change_form(ticket, reply_text="A new one is on its way."))
    assert Message.objects.filter(kind="ticket_reply").count() == 1


def test_an_email_not_yet_written_out_shows_its_kind_on_the_ticket_and_in_the_messages(open_ticket, agent_client):
    """Emails are written out when they are sent: until then the acknowledgment was an
    empty box on the ticket and "ticket_ack" in the messages' list."""
    ticket = open_ticket()
    ack = Message.objects.get(ticket=ticket, kind="ticket_ack")
    assert ack.subject == "" and ack.body == ""
    page = agent_client.get(f"/admin/feedback/ticket/{ticket.pk}/change/").content.decode()
    assert '<p class="subject">Acknowledgment</p>' in page
    listing = agent_client.get("/admin/customers/message/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Подтверждение получения" in listing and "ticket_ack" not in listing


def test_a_canned_reply_fills_an_empty_reply_box(open_ticket, agent_client):
    from feedback.models import CannedReply

    canned = CannedReply.objects.create(title="Thanks", body="Dear {name}, about {reference}: fixed.")
    ticket = open_ticket()
    agent_client.post(f"/admin/feedback/ticket/{ticket.pk}/change/", change_form(ticket, canned_reply=canned.pk))
    reply = Message.objects.get(kind="ticket_reply")
    assert f"Dear Ann Archer, about {ticket.reference}: fixed." in reply.body


def test_an_internal_note_from_the_ticket_page_sends_nothing(open_ticket, agent_client):
    ticket = open_ticket()
    agent_client.post(
        f"/admin/feedback/ticket/{ticket.pk}/change/", change_form(ticket, reply_mode="note", reply_text="Check stock")
    )
    assert Message.objects.filter(ticket=ticket, entry=Entry.NOTE, body="Check stock").exists()
    assert not Message.objects.filter(kind="ticket_reply").exists()


def test_the_status_select_offers_only_possible_moves(open_ticket, agent_client):
    ticket = open_ticket()
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.CLOSED)
    ticket.refresh_from_db()
    response = agent_client.post(f"/admin/feedback/ticket/{ticket.pk}/change/", change_form(ticket, status="open"))
    assert response.status_code == 200 and "not one of the available choices" in response.content.decode()


def test_my_open_tickets_lists_only_mine(open_ticket, agent_client, agent):
    from feedback.services import ticket_assign

    mine = ticket_assign(ticket=open_ticket(email="m@example.com"), assignee=agent)
    other = open_ticket(email="o@example.com")
    html = agent_client.get("/admin/feedback/myticket/").content.decode()
    assert mine.reference in html and other.reference not in html


def test_a_staff_member_opens_a_ticket_for_a_caller(open_ticket, agent_client):
    from customers.tests.factories import CustomerFactory

    customer = CustomerFactory(email="caller@example.com")
    response = agent_client.post(
        "/admin/feedback/ticket/add/",
        {
            "customer": customer.pk,
            "kind": "request",
            "channel": "phone",
            "priority": "normal",
            "subject": "Change address",
            "description": "Wants the delivery address changed",
        },
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert ticket.channel == "phone" and ticket.customer == customer
    assert Message.objects.filter(key=f"ticket:{ticket.pk}:ack").exists()


def test_the_default_policy_cannot_be_deleted_and_agents_cannot_edit_policies(manager_client, agent_client):
    default = SlaPolicy.objects.get(is_default=True)
    assert manager_client.post(f"/admin/feedback/slapolicy/{default.pk}/delete/", {"post": "yes"}).status_code == 403
    assert SlaPolicy.objects.filter(pk=default.pk).exists()
    assert agent_client.get(f"/admin/feedback/slapolicy/{default.pk}/change/").status_code == 200  # read only
    assert agent_client.post(f"/admin/feedback/slapolicy/{default.pk}/change/", {"name": "x"}).status_code == 403


def test_a_ticket_written_down_by_staff_starts_as_a_phone_call(agent_client):
    page = agent_client.get("/admin/feedback/ticket/add/").content.decode()
    assert '<option value="phone" selected>' in page
    page = agent_client.get("/admin/feedback/ticket/add/?channel=email").content.decode()
    assert '<option value="email" selected>' in page


def test_planning_a_reminder_asks_no_outcome(agent_client):
    """The add form showed "Outcome" and "Done", which creating a reminder never read."""
    page = agent_client.get("/admin/feedback/reminder/add/").content.decode()
    assert 'name="note"' in page and 'name="outcome"' not in page and 'name="mark_done"' not in page


def test_overdue_reminders_are_listed(clock, open_ticket, agent_client, agent):
    ticket = open_ticket()
    overdue = reminder_create(ticket=ticket, due_at=NOW - HOUR, assignee=agent, note="Call back about the refund")
    reminder_create(ticket=ticket, due_at=NOW + timedelta(days=1), assignee=agent, note="Later one")
    html = agent_client.get("/admin/feedback/reminder/?state=overdue").content.decode()
    assert "sla-late" in html and f"/admin/feedback/reminder/{overdue.pk}/change/" in html
    agent_client.post("/admin/feedback/reminder/", {"action": "mark_done", "_selected_action": [overdue.pk]})
    assert Reminder.objects.get(pk=overdue.pk).done_at is not None


def test_failed_emails_are_listed_and_can_be_retried_by_a_manager(open_ticket, manager_client):
    ticket = open_ticket()
    ack = Message.objects.get(key=f"ticket:{ticket.pk}:ack")
    Message.objects.filter(pk=ack.pk).update(delivery=Delivery.FAILED, last_error="550 no such user")
    html = manager_client.get("/admin/customers/message/?delivery=failed").content.decode()
    assert ticket.reference in html
    manager_client.post("/admin/customers/message/", {"action": "retry", "_selected_action": [ack.pk]})
    ack.refresh_from_db()
    assert ack.delivery == Delivery.PENDING


def test_the_customer_page_shows_tickets_and_the_timeline(open_ticket, agent_client, agent):
    from feedback.services import ticket_note_add

    ticket = open_ticket()
    ticket_note_add(ticket=ticket, text="Called, she was friendly", author=agent, entry=Entry.CALL)
    page = agent_client.get(f"/admin/customers/customer/{ticket.customer_id}/change/").content.decode()
    assert ticket.reference in page and "Called, she was friendly" in page
    assert "Log a note, call or meeting" in page


def test_staff_log_a_call_on_the_timeline(open_ticket, agent_client):
    ticket = open_ticket()
    page = agent_client.get(f"/admin/customers/message/add/?customer={ticket.customer_id}").content.decode()
    assert "<h1>Log a note, call or meeting</h1>" in page and '<option value="phone" selected>' in page
    response = agent_client.post(
        "/admin/customers/message/add/",
        {
            "customer": ticket.customer_id,
            "ticket": "",
            "entry": "call",
            "channel": "phone",
            "subject": "",
            "body": "Offered a voucher",
            "occurred_at_0": "2026-11-20",
            "occurred_at_1": "10:00:00",
        },
    )
    assert response.status_code == 302
    assert Message.objects.filter(entry=Entry.CALL, body="Offered a voucher", customer=ticket.customer).exists()


def test_the_ticket_page_refuses_another_customers_order(open_ticket, agent_client):
    from customers.tests.factories import OrderFactory

    ticket = open_ticket()
    other = OrderFactory(external_id="ELSE-9")
    response = agent_client.post(f"/admin/feedback/ticket/{ticket.pk}/change/", change_form(ticket, order=other.pk))
    assert response.status_code == 200 and "This order belongs to another customer." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.order is None


def policy_form(policy, **changes):
    values = {
        "name": policy.name,
        "position": policy.position,
        "answer_within": "01:00:00",
        "resolve_within": "3 00:00:00",
        "follow_up_every": "1 00:00:00",
        "warn_before": "01:00:00",
        "calendar": "",
    }
    return {**values, **changes}


@pytest.mark.parametrize("field", ["answer_within", "resolve_within", "follow_up_every", "warn_before"])
def test_a_policy_time_past_a_year_is_refused_before_it_breaks_every_ticket(field, manager_client, open_ticket):
    """A typo of a few more digits (3,000,000 days) was saved, and from then on opening
    any ticket failed: its deadline lay past the year 9999 (OverflowError), so the
    public form, the API and the inbound email all answered with an error."""
    default = SlaPolicy.objects.get(is_default=True)
    url = f"/admin/feedback/slapolicy/{default.pk}/change/"
    response = manager_client.post(url, policy_form(default, **{field: "3000000 00:00:00"}))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == ["At most 365 days."]
    open_ticket(email="still@example.com")  # the policy kept its times
    assert manager_client.post(url, policy_form(default, **{field: "365 00:00:00"})).status_code == 302


def test_policy_times_are_written_and_shown_as_3d_4h(manager_client):
    """Django's box showed "3 00:00:00" and refused "4h"; its list read "3 days, 0:00:00"
    in English to every reader."""
    default = SlaPolicy.objects.get(is_default=True)
    url = f"/admin/feedback/slapolicy/{default.pk}/change/"
    form = policy_form(default, answer_within="45m", resolve_within="2d 4h", follow_up_every="1d", warn_before="1h 30m")
    assert manager_client.post(url, form).status_code == 302
    default.refresh_from_db()
    assert (default.answer_within, default.resolve_within) == (timedelta(minutes=45), timedelta(days=2, hours=4))
    assert default.warn_before == timedelta(hours=1, minutes=30)
    page = manager_client.get(url).content.decode()
    assert 'value="2d 4h"' in page and 'value="1h 30m"' in page and 'value="45m"' in page
    listing = manager_client.get("/admin/feedback/slapolicy/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "2 д 4 ч" in listing and "days," not in listing
    # Django's own spelling still works; anything else says what to write.
    assert manager_client.post(url, policy_form(default)).status_code == 302
    refused = manager_client.post(url, policy_form(default, resolve_within="4 hours"))
    assert refused.context["adminform"].form.errors["resolve_within"] == [
        "Write a duration such as 3d 4h, 90m or 1h 30m."
    ]
    huge = manager_client.post(url, policy_form(default, resolve_within="99999999999d"))
    assert "The number of days must be between" in huge.context["adminform"].form.errors["resolve_within"][0]


def test_a_calendar_without_enough_working_time_is_refused_for_a_policy(manager_client, open_ticket):
    """A calendar without opening hours made opening every ticket of its policy fail
    (NoBusinessTime); so did one with less working time in ten years than the policy's
    times need (an hour a week cannot hold 365 days of working time)."""
    default = SlaPolicy.objects.get(is_default=True)
    url = f"/admin/feedback/slapolicy/{default.pk}/change/"
    empty = BusinessCalendar.objects.create(name="Not set up yet")
    response = manager_client.post(url, policy_form(default, calendar=empty.pk))
    assert response.context["adminform"].form.errors["calendar"] == [
        "This calendar has no opening hours yet; add them first."
    ]
    sparse = BusinessCalendar.objects.create(name="An hour a week")
    BusinessHours.objects.create(calendar=sparse, weekday=0, opens=time(9), closes=time(10))
    response = manager_client.post(url, policy_form(default, calendar=sparse.pk, resolve_within="365 00:00:00"))
    assert response.context["adminform"].form.errors["calendar"] == [
        "This calendar has less working time in ten years than these times ask for."
    ]
    assert manager_client.post(url, policy_form(default, calendar=sparse.pk)).status_code == 302
    ticket = open_ticket(email="weekly@example.com")
    assert ticket.policy.calendar == sparse


def test_a_calendar_in_use_keeps_its_opening_hours(manager_client, default_policy, office_calendar, open_ticket):
    """Deleting every opening interval of a calendar that policies use is refused; and
    a calendar left without hours anyway (the database allows it) counts every second
    rather than failing its tickets."""
    default_policy.calendar = office_calendar
    default_policy.save()
    hours = list(office_calendar.hours.order_by("id"))
    form = {
        "name": office_calendar.name,
        "time_zone": office_calendar.time_zone,
        "hours-TOTAL_FORMS": len(hours),
        "hours-INITIAL_FORMS": len(hours),
        "holidays-TOTAL_FORMS": 0,
        "holidays-INITIAL_FORMS": 0,
    }
    for index, row in enumerate(hours):
        form |= {
            f"hours-{index}-id": row.pk,
            f"hours-{index}-calendar": office_calendar.pk,
            f"hours-{index}-weekday": row.weekday,
            f"hours-{index}-opens": row.opens.strftime("%H:%M"),
            f"hours-{index}-closes": row.closes.strftime("%H:%M"),
            f"hours-{index}-DELETE": "on",
        }
    url = f"/admin/feedback/businesscalendar/{office_calendar.pk}/change/"
    response = manager_client.post(url, form)
    assert response.status_code == 200
    assert "SLA policies use this calendar: it needs opening hours." in response.content.decode()
    assert office_calendar.hours.count() == len(hours)
    del form["hours-0-DELETE"]
    assert manager_client.post(url, form).status_code == 302
    assert office_calendar.hours.count() == 1
    office_calendar.hours.all().delete()
    ticket = open_ticket(email="no-hours@example.com")
    assert ticket.resolve_by == ticket.created_at + default_policy.resolve_within
