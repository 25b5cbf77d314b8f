"""Survey services: invitations and the contact rules, the personal link, answers and
their scores, closing the loop, and the periodic selection across time zones."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from customers.models import Customer, Delivery, Message, Order, Unsubscribe
from feedback.models import (
    Survey,
    SurveyInvitation,
    SurveyMonth,
    SurveyResponse,
    SurveyTrigger,
    Ticket,
    TicketKind,
    TicketStatus,
)
from feedback.selectors import service_period
from feedback.services import ticket_resolve
from feedback.surveys import services
from feedback.surveys.models import InvitationStatus, Question, SurveyKind, parse_token
from feedback.surveys.selectors import month_rows_from_responses, survey_scores

from .conftest import NOW, delivered

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(db):
    return Customer.objects.create(email="ann@example.com", name="Ann", survey_consent=True, locale="da")


def survey(kind: str) -> Survey:
    return Survey.objects.get(kind=kind)


def invite(customer, kind="nps", **values) -> SurveyInvitation:
    values.setdefault("source", "api")
    return services.survey_invite(survey=survey(kind), customer=customer, **values)


def answer(invitation, **answers):
    return services.survey_response_submit(token=invitation.token, answers=answers).response


# --- Invitations and the contact rules ------------------------------------------------------


def test_an_invitation_sent_now_is_an_outbox_email_with_the_score_buttons(customer, clock):
    invitation = invite(customer)
    assert invitation.status == InvitationStatus.SENT
    assert invitation.expires_at == NOW + timedelta(days=30)
    (message,) = delivered("survey_invitation")
    assert message.delivery == Delivery.SENT and message.key == f"survey:{invitation.pk}:invitation"
    assert message.subject == "Vil du anbefale os?"  # the customer's language
    for score in range(11):
        assert f"{invitation.url()}?score={score}" in message.body
    assert "Hvor sandsynligt er det" in message.body
    assert "/unsubscribe/" in message.body


def test_the_token_has_the_id_and_an_hmac_and_nothing_of_it_is_stored(customer):
    invitation = invite(customer)
    token = invitation.token
    invitation_id, mac = parse_token(token)
    assert invitation_id == invitation.pk and len(mac) == 43  # 256 bits
    row = SurveyInvitation.objects.filter(pk=invitation.pk).values().get()
    assert not any(mac in str(value) for value in row.values())
    assert not Message.objects.filter(body__contains=mac).exclude(delivery=Delivery.SENT).exists()


@pytest.mark.parametrize(
    ("setup", "rule"),
    [
        (lambda c: Customer.objects.filter(pk=c.pk).update(survey_consent=False), "no_consent"),
        (lambda c: Customer.objects.filter(pk=c.pk).update(email=None), "no_email"),
        (lambda c: Unsubscribe.objects.create(email="ann@example.com"), "unsubscribed"),
        (lambda c: invite(c, "csat"), "recent_survey"),
        (lambda c: invite(c, "csat", send_at=NOW + timedelta(days=2)), "already_scheduled"),
    ],
)
def test_each_contact_rule_refuses_and_says_which(customer, clock, setup, rule):
    setup(customer)
    with pytest.raises(services.ContactRefused) as refused:
        invite(customer)
    assert refused.value.rule == rule
    assert refused.value.messages == [services.rule_message(rule)]


def test_complaints_hold_surveys_back_while_open_and_for_fourteen_days(customer, clock, open_ticket):
    SurveyTrigger.objects.update(enabled=False)  # no CSAT about the complaint here
    complaint = open_ticket(email=customer.email, kind="complaint")
    with pytest.raises(services.ContactRefused) as refused:
        invite(customer)
    assert refused.value.rule == "open_complaint"
    ticket_resolve(ticket=complaint, tell_customer=False)
    clock.shift(timedelta(days=13))
    with pytest.raises(services.ContactRefused) as refused:
        invite(customer)
    assert refused.value.rule == "recent_complaint"
    clock.shift(timedelta(days=1, minutes=1))
    assert invite(customer).status == InvitationStatus.SENT


def test_a_survey_sent_thirty_days_ago_no_longer_counts(customer, clock):
    invite(customer, "csat")
    clock.shift(timedelta(days=30, seconds=1))
    assert invite(customer).status == InvitationStatus.SENT


def test_the_same_cause_invites_once(customer):
    first = invite(customer, key="campaign:1:7")
    assert invite(customer, key="campaign:1:7").pk == first.pk
    assert SurveyInvitation.objects.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_invitations_of_one_customer_make_one(customer):
    outcomes, barrier = [], threading.Barrier(6)

    def attempt():
        barrier.wait()
        try:
            invite(customer)
            outcomes.append("sent")
        except services.ContactRefused as refusal:
            outcomes.append(refusal.rule)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["recent_survey"] * 5 + ["sent"]
    assert SurveyInvitation.objects.count() == 1


def test_the_sweep_sends_due_invitations_and_checks_the_rules_again(customer, clock, open_ticket):
    later = invite(customer, send_at=NOW + timedelta(hours=1))
    other = Customer.objects.create(email="bo@example.com", survey_consent=True)
    blocked = invite(other, send_at=NOW + timedelta(hours=1))
    assert services.survey_invitation_sweep() == 0  # not due yet
    open_ticket(email="bo@example.com", kind="complaint")  # Bo complains meanwhile
    clock.shift(timedelta(hours=1))
    assert services.survey_invitation_sweep() == 2
    later.refresh_from_db()
    blocked.refresh_from_db()
    assert later.status == InvitationStatus.SENT and later.send_at is None
    assert blocked.status == InvitationStatus.SKIPPED
    assert blocked.skip_reason == services.rule_message("open_complaint")
    assert [m.to_email for m in Message.objects.filter(kind="survey_invitation")] == ["ann@example.com"]
    assert services.survey_invitation_sweep() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_once_send_each_invitation_once(customer):
    customers = [Customer.objects.create(email=f"c{n}@example.com", survey_consent=True) for n in range(40)]
    start = datetime.now(UTC)
    for each in customers:
        invite(each, send_at=start + timedelta(seconds=1))
    barrier = threading.Barrier(2)
    done = []

    def sweep():
        barrier.wait()
        done.append(services.survey_invitation_sweep(now=start + timedelta(minutes=1), batch=25))
        connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    services.survey_invitation_sweep(now=start + timedelta(minutes=1))
    assert Message.objects.filter(kind="survey_invitation").count() == 40
    assert SurveyInvitation.objects.filter(status=InvitationStatus.SENT).count() == 40


def test_unsubscribing_cancels_pending_invitation_emails(customer):
    invite(customer)
    assert services.unsubscribe(email_address="ANN@example.com") is True
    assert services.unsubscribe(email_address="ann@example.com") is False
    (message,) = Message.objects.filter(kind="survey_invitation")
    assert message.delivery == Delivery.CANCELLED


# --- Answering ---------------------------------------------------------------------------------


def test_an_answer_is_stored_once_and_the_link_is_used_up(customer):
    invitation = invite(customer)
    response = answer(invitation, score="9", reason="Fast delivery")
    assert response.score == Decimal(9) and response.answers == {"score": 9, "reason": "Fast delivery"}
    assert not response.unhappy and response.recovery_ticket is None
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.ANSWERED
    with pytest.raises(services.LinkInvalid):
        answer(invitation, score="3")
    assert SurveyResponse.objects.count() == 1


@pytest.mark.parametrize(
    "token_change",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # tampered MAC
        lambda token: str(int(token.split(".")[0]) + 1) + "." + token.split(".")[1],  # another id
        lambda token: "",
        lambda token: "x" * 400,
        lambda token: token.split(".")[0],
    ],
)
def test_a_forged_token_opens_nothing(customer, token_change):
    invitation = invite(customer)
    with pytest.raises(services.LinkInvalid):
        services.survey_response_submit(token=token_change(invitation.token), answers={"score": "9"})


def test_an_expired_link_opens_nothing(customer, clock):
    invitation = invite(customer)
    clock.shift(timedelta(days=30))
    with pytest.raises(services.LinkInvalid):
        answer(invitation, score="9")
    assert invitation.display_status(NOW + timedelta(days=30)) == "Expired"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_ten_concurrent_submissions_with_one_link_give_one_response(customer):
    invitation = invite(customer)
    barrier, outcomes = threading.Barrier(10), []

    def submit(score):
        barrier.wait()
        try:
            answer(invitation, score=str(score))
            outcomes.append("stored")
        except services.LinkInvalid:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit, args=(score,)) for score in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 9 + ["stored"]
    assert SurveyResponse.objects.count() == 1
    assert SurveyMonth.objects.get().responses == 1


def test_a_happy_answer_is_read_and_stored_in_two_statements(customer, django_assert_num_queries):
    """The invitation with its survey, customer and questions in one round trip; the
    invitation taken, the response and the month's count in another, a transaction on
    its own (no BEGIN, no COMMIT)."""
    invitation = invite(customer)
    with django_assert_num_queries(2) as queries:
        response = answer(invitation, score="8", reason="Quick")
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["SELECT", "WITH"]
    assert SurveyMonth.objects.get().responses == 1
    assert response.score == 8
    assert response.customer == customer
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.ANSWERED


@pytest.mark.parametrize("then", ["answered", "expired"])
def test_a_write_that_finds_the_invitation_no_longer_open_writes_nothing(customer, clock, then):
    """What the write checks itself, for an invitation answered or expired after the
    submission read it: no response, the invitation as it is, the month not counted."""
    invitation = invite(customer)
    answered = SurveyResponse(
        invitation=invitation,
        survey=invitation.survey,
        customer=customer,
        score=Decimal(9),
        answers={"score": 9},
        language="en",
        unhappy=False,
        submitted_at=NOW,
    )
    if then == "answered":
        answer(invitation, score="9")
    else:
        SurveyInvitation.objects.filter(pk=invitation.pk).update(expires_at=NOW - timedelta(seconds=1))
    counted = SurveyMonth.objects.values_list("responses", flat=True).first()
    with pytest.raises(services.LinkInvalid):
        services._response_store(answered, now=NOW, count_in_month=True)
    assert SurveyResponse.objects.count() == (1 if then == "answered" else 0)
    assert SurveyMonth.objects.values_list("responses", flat=True).first() == counted
    invitation.refresh_from_db()
    assert invitation.status == (InvitationStatus.ANSWERED if then == "answered" else InvitationStatus.SENT)


@pytest.mark.parametrize(
    ("answers", "errors"),
    [
        ({}, {"score": ["Please answer this question."]}),
        ({"score": "11"}, {"score": ["Choose a number from 0 to 10."]}),
        ({"score": "-1"}, {"score": ["Choose a number from 0 to 10."]}),
        ({"score": "seven"}, {"score": ["Choose a number from 0 to 10."]}),
        ({"score": "7", "reason": "x" * 2001}, {"reason": ["Keep it under 2000 characters (it has 2001)."]}),
    ],
)
def test_bad_answers_are_refused_with_a_message_and_nothing_is_stored(customer, answers, errors):
    invitation = invite(customer)
    with pytest.raises(ValidationError) as refused:
        services.survey_response_submit(token=invitation.token, answers=answers, language="en")
    assert refused.value.message_dict == errors
    assert not SurveyResponse.objects.exists()
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.SENT  # still usable


def test_the_messages_come_in_the_customers_language_unless_they_chose_another(customer):
    invitation = invite(customer)  # Ann reads Danish
    with pytest.raises(ValidationError) as refused:
        services.survey_response_submit(token=invitation.token, answers={"score": "11"})
    assert refused.value.message_dict == {"score": ["Vælg et tal fra 0 til 10."]}
    with pytest.raises(ValidationError) as refused:
        services.survey_response_submit(token=invitation.token, answers={"score": "11"}, language="ko")
    assert refused.value.message_dict == {"score": ["0에서 10 사이의 숫자를 고르세요."]}


def test_cli_scores_the_mean_of_its_three_answers(customer):
    response = answer(invite(customer, "cli"), recommend="6", rebuy="5", **{"try": "2"})
    assert response.score == Decimal("4.33") and not response.unhappy
    other = Customer.objects.create(email="bo@example.com", survey_consent=True)
    assert answer(invite(other, "cli"), recommend="2", rebuy="3", **{"try": "3"}).unhappy  # 2.67 < 3


def test_a_question_shown_only_for_some_answers_is_dropped_otherwise(customer):
    custom = Survey.objects.create(name="Delivery", kind=SurveyKind.CUSTOM, title={"en": "Delivery"})
    rating = Question.objects.create(survey=custom, key="rating", type="scale", scale_min=1, scale_max=3, position=0)
    Question.objects.create(
        survey=custom,
        key="what",
        type="multiple",
        position=1,
        choices=[{"value": "late"}, {"value": "broken"}],
        show_if_question=rating,
        show_if_values=["1"],
    )
    middling = answer(services.survey_invite(survey=custom, customer=customer, source="api"), rating="2")
    assert middling.answers == {"rating": 2}
    customer2 = Customer.objects.create(email="bo@example.com", survey_consent=True)
    invitation = services.survey_invite(survey=custom, customer=customer2, source="api")
    with pytest.raises(ValidationError) as refused:
        answer(invitation, rating="1")  # now "what" applies and is required
    assert refused.value.message_dict == {"what": ["Please answer this question."]}
    assert answer(invitation, rating="1", what=["late", "broken"]).answers == {"rating": 1, "what": ["late", "broken"]}
    customer3 = Customer.objects.create(email="cy@example.com", survey_consent=True)
    invitation = services.survey_invite(survey=custom, customer=customer3, source="api")
    assert answer(invitation, rating="3", what=["late"]).answers == {"rating": 3}  # not asked, not kept


# --- Closing the loop --------------------------------------------------------------------------


def test_a_detractor_opens_a_recovery_ticket_and_is_asked_again_when_it_is_resolved(customer, clock):
    response = answer(invite(customer), score="4", reason="Late again")
    ticket = response.recovery_ticket
    assert ticket.kind == TicketKind.FEEDBACK and ticket.priority == "high"
    assert ticket.policy.name == "Unhappy survey answer"
    assert "score 4" in ticket.description and "Late again" in ticket.description
    assert Message.objects.filter(ticket=ticket, kind="ticket_ack").exists()  # the usual acknowledgment

    clock.shift(timedelta(days=1))
    ticket_resolve(ticket=ticket)
    again = SurveyInvitation.objects.get(source="recovery")
    assert again.recovery_of_id == response.pk and again.send_at == NOW + timedelta(days=1, hours=1)
    clock.shift(timedelta(hours=1))
    services.survey_invitation_sweep()  # a survey within 30 days does not hold the re-survey back
    again.refresh_from_db()
    assert again.status == InvitationStatus.SENT
    better = answer(again, score="8")
    assert better.recovery_ticket is None
    scores = survey_scores(service_period(start=NOW.date(), end=(NOW + timedelta(days=2)).date()))
    assert scores["recovery"] == {"unhappy": 1, "recovered": 1, "recovery_rate": 100.0}


def test_a_resolved_ticket_brings_the_csat_survey_after_the_delay(customer, clock, open_ticket):
    ticket = open_ticket(email=customer.email, kind="question")
    ticket_resolve(ticket=ticket)
    invitation = SurveyInvitation.objects.get()
    assert invitation.survey.kind == "csat" and invitation.ticket_id == ticket.pk
    assert invitation.status == InvitationStatus.SCHEDULED and invitation.send_at == NOW + timedelta(hours=1)
    ticket.refresh_from_db()
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.OPEN)
    ticket_resolve(ticket=Ticket.objects.get(pk=ticket.pk))  # resolved again: still one survey
    assert SurveyInvitation.objects.count() == 1


def test_the_csat_after_a_complaint_is_not_held_back_by_that_complaint(customer, clock, open_ticket):
    complaint = open_ticket(email=customer.email, kind="complaint")
    ticket_resolve(ticket=complaint)
    clock.shift(timedelta(hours=1))
    services.survey_invitation_sweep()
    invitation = SurveyInvitation.objects.get()
    assert invitation.status == InvitationStatus.SENT
    response = answer(invitation, score="2")
    assert response.ticket_id == complaint.pk and response.unhappy


def test_switched_off_csat_and_customers_without_consent_get_no_survey(customer, clock, open_ticket):
    SurveyTrigger.objects.filter(kind="csat_after_ticket").update(enabled=False)
    ticket_resolve(ticket=open_ticket(email=customer.email))
    SurveyTrigger.objects.filter(kind="csat_after_ticket").update(enabled=True)
    ticket_resolve(ticket=open_ticket(email="noconsent@example.com"))
    assert not SurveyInvitation.objects.exists()


# --- Scores --------------------------------------------------------------------------------------


def test_scores_on_a_small_data_set_match_hand_computed_values(clock):
    def respond(kind, **answers):
        person = Customer.objects.create(
            email=f"{len(answers)}-{Customer.objects.count()}@example.com", survey_consent=True
        )
        return answer(services.survey_invite(survey=survey(kind), customer=person, source="api"), **answers)

    for score in (10, 9, 9, 8, 7, 6, 3, 0):  # 3 promoters, 2 passives, 3 detractors
        respond("nps", score=str(score))
    for score in (5, 4, 4, 2, 1):  # 3 of 5 satisfied
        respond("csat", score=str(score))
    respond("cli", recommend="6", rebuy="6", **{"try": "6"})
    respond("cli", recommend="1", rebuy="2", **{"try": "3"})
    scores = survey_scores(service_period(start=NOW.date(), end=NOW.date()))
    assert scores["nps"] == {"responses": 8, "promoters": 3, "passives": 2, "detractors": 3, "nps": 0.0}
    assert scores["csat"] == {"responses": 5, "satisfied": 3, "csat": 60.0}
    assert scores["cli"] == {"responses": 2, "cli": 4.0}  # (6 + 2) / 2
    assert scores["trend"] == [{"month": "2026-11", "nps": scores["nps"], "csat": scores["csat"], "cli": scores["cli"]}]
    assert scores["recovery"]["unhappy"] == 3 + 2 + 1
    (rate,) = [row for row in scores["response_rates"] if row["survey"] == "NPS"]
    assert rate == {"survey_id": survey("nps").pk, "survey": "NPS", "sent": 8, "answered": 8, "response_rate": 100.0}
    nothing = survey_scores(service_period(start=NOW.date() - timedelta(days=9), end=NOW.date() - timedelta(days=1)))
    assert nothing["nps"]["nps"] is None and nothing["csat"]["csat"] is None and nothing["cli"]["cli"] is None


def test_nps_of_one_third_is_rounded_to_one_decimal(clock):
    for index, score in enumerate(("10", "9", "3")):
        person = Customer.objects.create(email=f"p{index}@example.com", survey_consent=True)
        answer(invite(person), score=score)
    assert survey_scores(service_period(start=NOW.date(), end=NOW.date()))["nps"]["nps"] == 33.3


def test_the_monthly_rows_equal_a_rebuild_from_the_responses(clock):
    for month in range(3):
        for score in (10, 5, 8):
            person = Customer.objects.create(email=f"m{month}-{score}@example.com", survey_consent=True)
            answer(invite(person), score=str(score))
        clock.shift(timedelta(days=31))
    kept = {(row.kind, row.month): row for row in SurveyMonth.objects.all()}
    rebuilt = {(row.kind, row.month): row for row in month_rows_from_responses()}
    assert kept.keys() == rebuilt.keys() and len(kept) == 3
    for key, row in kept.items():
        for field in ("responses", "scored", "score_sum", "promoters", "detractors", "satisfied"):
            assert getattr(row, field) == getattr(rebuilt[key], field), (key, field)


def test_the_trend_reads_a_fixed_number_of_queries(clock, django_assert_num_queries):
    answer(invite(Customer.objects.create(email="x@example.com", survey_consent=True)), score="9")
    with django_assert_num_queries(8):
        survey_scores(service_period(start=NOW.date() - timedelta(days=1000), end=NOW.date()))


# --- The periodic selection ------------------------------------------------------------------


def paid_order(customer, when, status="paid"):
    from customers.services import order_create

    if not customer.external_id:
        customer.external_id = f"shop-{customer.pk}"
        customer.save(update_fields=["external_id"])
    return order_create(
        order_id=f"o-{customer.pk}-{when:%Y%m%d%H%M}-{Order.objects.count()}",
        customer_id=customer.external_id,
        placed_at=when,
        total=Decimal("20.00"),
        status=status,
    )


@pytest.mark.parametrize(
    ("zone", "now", "expected_day", "hours"),
    [
        ("Europe/Copenhagen", datetime(2026, 11, 23, 7, 0, tzinfo=UTC), "2026-11-23", (9, 12)),  # Monday 08:00 local
        ("Europe/Copenhagen", datetime(2026, 11, 23, 9, 0, tzinfo=UTC), "2026-11-24", (9, 12)),  # after 9: tomorrow
        ("Asia/Seoul", datetime(2026, 11, 27, 1, 0, tzinfo=UTC), "2026-11-30", (9, 12)),  # Friday 10:00 → Monday
        ("America/New_York", datetime(2026, 3, 7, 15, 0, tzinfo=UTC), "2026-03-09", (9, 12)),  # Sat; DST began Sun
        ("Europe/London", datetime(2026, 10, 24, 12, 0, tzinfo=UTC), "2026-10-26", (9, 12)),  # Sat; DST ended Sun
    ],
)
def test_periodic_invitations_go_out_on_weekday_mornings_in_the_customers_zone(clock, zone, now, expected_day, hours):
    clock.move_to(now - timedelta(days=60))
    people = [
        Customer.objects.create(email=f"z{n}@example.com", survey_consent=True, time_zone=zone) for n in range(25)
    ]
    for person in people:
        paid_order(person, now - timedelta(days=30))
    clock.move_to(now)
    assert services.surveys_schedule() == 25
    local = ZoneInfo(zone)
    moments = [
        (invitation.send_at, invitation.customer_id) for invitation in SurveyInvitation.objects.order_by("customer")
    ]
    for moment, customer_id in moments:
        wall = moment.astimezone(local)
        assert wall.date().isoformat() == expected_day
        assert hours[0] <= wall.hour < hours[1]
        assert moment == services.next_send_moment(now, zone, customer_id)  # SQL and Python agree
    assert len({moment for moment, _id in moments}) > 10  # spread, not all at nine
    assert services.surveys_schedule() == 0  # idempotent


def test_the_periodic_selection_follows_first_order_activity_and_the_rules(clock):
    def person(name, **values):
        values.setdefault("survey_consent", True)
        return Customer.objects.create(email=f"{name}@example.com", **values)

    due = person("due")
    paid_order(due, NOW - timedelta(days=20))
    too_new = person("new")
    paid_order(too_new, NOW - timedelta(days=5))
    only_placed = person("placed")
    paid_order(only_placed, NOW - timedelta(days=20), status="placed")
    lapsed = person("lapsed")
    paid_order(lapsed, NOW - timedelta(days=400))
    no_consent = person("noconsent", survey_consent=False)
    paid_order(no_consent, NOW - timedelta(days=20))
    recently_asked = person("asked")
    paid_order(recently_asked, NOW - timedelta(days=100))
    old = services.survey_invite(
        survey=survey("nps"), customer=recently_asked, source="api", now=NOW - timedelta(days=60)
    )
    assert old.status == InvitationStatus.SENT
    assert services.surveys_schedule() == 1
    assert SurveyInvitation.objects.filter(source="nps_periodic").get().customer == due


def test_choosing_the_nps_invitations_is_one_statement_per_trigger(clock, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        services.surveys_schedule()
    assert connection.vendor == "postgresql"


# --- Campaigns ---------------------------------------------------------------------------------


def test_a_campaign_invites_whom_the_rules_allow_once_and_the_sweep_sends_them(clock, open_ticket):
    people = [Customer.objects.create(email=f"k{n}@example.com", survey_consent=True) for n in range(5)]
    Customer.objects.filter(pk=people[0].pk).update(survey_consent=False)
    open_ticket(email=people[1].email, kind="complaint")
    invite(people[2], "csat")
    chosen = Customer.objects.filter(pk__in=[person.pk for person in people])
    audience = services.campaign_audience(chosen)
    assert audience["selected"] == 5 and audience["invited"] == 2
    assert dict(audience["held_back"]) == {
        services.rule_message("no_consent"): 1,
        services.rule_message("recent_survey"): 1,
        services.rule_message("open_complaint"): 1,
        services.rule_message("recent_complaint"): 1,  # the same complaint: created just now
    }
    campaign = services.survey_campaign_send(survey=survey("nps"), customers=chosen, name="Spring")
    assert (campaign.selected, campaign.invited) == (5, 2)
    assert services.survey_invitation_sweep() == 2
    sent = SurveyInvitation.objects.filter(campaign=campaign, status=InvitationStatus.SENT)
    assert {invitation.customer_id for invitation in sent} == {people[3].pk, people[4].pk}
    again = services.survey_campaign_send(survey=survey("nps"), customers=chosen, name="Spring again")
    assert again.invited == 0  # everybody has a survey now


def test_an_hourly_run_looks_only_at_customers_whose_turn_came_lately(clock):
    """The windowed selection against the full one on the same data: everybody whose
    turn came within the catch-up days is found; someone whose turn came long ago and
    who has not ordered since is left to the full pass (the documented trade)."""
    nps = survey("nps")

    def person(name, *orders, asked_days_ago=None):
        customer = Customer.objects.create(email=f"{name}@example.com", survey_consent=True)
        for days in orders:
            paid_order(customer, NOW - timedelta(days=days))
        if asked_days_ago is not None:
            services.survey_invite(
                survey=nps, customer=customer, source="api", now=NOW - timedelta(days=asked_days_ago)
            )
        return customer

    first_paid_lately = person("new", 20)  # 14 days after the first order: 6 days ago
    interval_ran_out = person("cadence", 200, asked_days_ago=95)  # 90 days after: 5 days ago
    came_back = person("back", 300, 1, asked_days_ago=150)  # due long ago, ordered yesterday
    long_due_idle = person("idle", 200, asked_days_ago=130)  # due 40 days ago, no order since
    not_due = person("fresh", 200, asked_days_ago=30)

    trigger = SurveyTrigger.objects.select_related("survey").get(kind="nps_periodic")
    full = set(services._due_for_periodic(trigger, NOW).values_list("pk", flat=True))
    windowed = set(services._due_for_periodic(trigger, NOW, since=NOW - timedelta(days=7)).values_list("pk", flat=True))
    assert full == {first_paid_lately.pk, interval_ran_out.pk, came_back.pk, long_due_idle.pk}
    assert windowed == full - {long_due_idle.pk}
    assert not_due.pk not in full

    # The first run looks at everybody; the next, an hour later, at what changed.
    assert services.surveys_schedule() == 4
    trigger.refresh_from_db()
    assert trigger.last_run_at == NOW
    clock.shift(timedelta(hours=1))
    assert services.surveys_schedule() == 0
    # After beat was down for longer than the catch-up days, a full pass again.
    SurveyTrigger.objects.filter(pk=trigger.pk).update(last_run_at=NOW - timedelta(days=30))
    SurveyInvitation.objects.filter(source="nps_periodic", customer=long_due_idle).delete()
    assert services.surveys_schedule() == 1
