"""Surveys in the admin: the builder with a box per language, the preview, triggers,
invitations and responses (filters, export, a fixed number of queries)."""

import html
import re

import pytest

from customers.models import Customer
from feedback.models import Question, Survey, SurveyTrigger
from feedback.surveys import services

pytestmark = pytest.mark.django_db


def answered(count: int, kind: str = "nps", score: str = "9"):
    survey = Survey.objects.get(kind=kind)
    for index in range(count):
        customer = Customer.objects.create(email=f"{kind}{index}@example.com", survey_consent=True)
        invitation = services.survey_invite(survey=survey, customer=customer, source="api")
        services.survey_response_submit(token=invitation.token, answers={"score": score})


def test_the_survey_list_shows_missing_translations(manager_client):
    custom = Survey.objects.create(name="Delivery", title={"en": "Delivery", "da": "Levering"})
    Question.objects.create(survey=custom, key="q", text={"en": "How was it?", "ko": "어땠나요?"})
    page = manager_client.get("/admin/feedback/survey/").content.decode()
    assert "Delivery" in page
    assert "Simplified Chinese, Russian, Danish, Korean" in page or "Simplified Chinese, Russian" in page
    assert page.count("—") >= 3  # the three standard surveys miss nothing


def test_a_manager_builds_a_survey_with_a_box_per_language(manager_client):
    form = {
        "name": "Delivery",
        "kind": "custom",
        "active": "on",
        "link_days": "14",
        "promoter_link": "",
        "title__en": "How was the delivery?",
        "title__da": "Hvordan var leveringen?",
        "questions-TOTAL_FORMS": "1",
        "questions-INITIAL_FORMS": "0",
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
        "questions-0-position": "0",
        "questions-0-key": "speed",
        "questions-0-type": "scale",
        "questions-0-required": "on",
        "questions-0-scale_min": "1",
        "questions-0-scale_max": "5",
        "questions-0-max_length": "2000",
        "questions-0-show_if_values": "",
        "questions-0-text__en": "How fast was it?",
        "questions-0-text__ko": "얼마나 빨랐나요?",
    }
    response = manager_client.post("/admin/feedback/survey/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    survey = Survey.objects.get(name="Delivery")
    assert survey.title == {"en": "How was the delivery?", "da": "Hvordan var leveringen?"}
    (question,) = survey.questions.all()
    assert question.text == {"en": "How fast was it?", "ko": "얼마나 빨랐나요?"}
    assert question.text_in("ru") == "How fast was it?"  # falls back to English

    bad = dict(form, name="Broken", **{"questions-0-scale_max": "40", "title__en": ""})
    response = manager_client.post("/admin/feedback/survey/add/", bad)
    assert response.status_code == 200 and not Survey.objects.filter(name="Broken").exists()
    assert "at most 11 points" in response.content.decode()


@pytest.mark.parametrize(
    "kind, choices, show_if_values, message",
    [
        ("single", {"en": ""}, "", "A choice question needs a list of choices"),
        ("single", {"en": "a: A\na: B"}, "", "Each choice needs a value of its own."),
        ("single", {"en": ": A"}, "", "Line 1: write it as key: label."),
        ("single", {"en": "price:"}, "", "Line 1: write it as key: label."),
        ("single", {"en": "a: A\x00"}, "", "Null characters are not allowed."),
        ("single", {"en": "a: A\nb: B", "da": "Kun en"}, "", "Give one line per English choice (2)"),
        ("single", {"en": "a: A", "ko": "가\x00"}, "", "Null characters are not allowed."),
        ("text", {"en": ""}, "a\x00", "Null characters are not allowed."),
        ("text", {"en": ""}, '["a", {"b": 1}]', "Give a list of answers"),
    ],
)
def test_a_question_s_choices_and_conditions_are_checked_before_a_page_shows_them(
    manager_client, client, kind, choices, show_if_values, message
):
    """What the builder's boxes are given is checked before a customer's page shows it: a
    choice without a key or label, two with one key, lines that do not match the English
    ones, a NUL (the database's refusal when saved)."""
    form = {
        "name": "Delivery",
        "kind": "custom",
        "active": "on",
        "link_days": "14",
        "title__en": "How was the delivery?",
        "questions-TOTAL_FORMS": "1",
        "questions-INITIAL_FORMS": "0",
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
        "questions-0-position": "0",
        "questions-0-key": "why",
        "questions-0-type": kind,
        "questions-0-scale_min": "0",
        "questions-0-scale_max": "10",
        **{f"questions-0-choices__{code}": text for code, text in choices.items()},
        "questions-0-max_length": "2000",
        "questions-0-show_if_values": show_if_values,
        "questions-0-text__en": "Why?",
    }
    response = manager_client.post("/admin/feedback/survey/add/", form)
    assert response.status_code == 200 and message in html.unescape(response.content.decode())
    assert not Survey.objects.filter(name="Delivery").exists()

    good = {
        "questions-0-choices__en": "price: The price\n\nThe delivery time\n2: Two",
        "questions-0-choices__da": "Prisen\nLeveringstiden\nTo",
        "questions-0-choices__ko": "",
        "questions-0-show_if_values": "",
    }
    response = manager_client.post("/admin/feedback/survey/add/", {**form, **good})
    assert response.status_code == 302, response.content.decode()[:2000]
    (question,) = Survey.objects.get(name="Delivery").questions.all()
    assert question.choices == [
        {"value": "price", "label": {"en": "The price", "da": "Prisen"}},
        {"value": "the-delivery-time", "label": {"en": "The delivery time", "da": "Leveringstiden"}},
        {"value": "2", "label": {"en": "Two", "da": "To"}},
    ]
    if kind == "single":
        customer = Customer.objects.create(email="ann@example.com", survey_consent=True, locale="da")
        invitation = services.survey_invite(survey=question.survey, customer=customer, source="api")
        page = client.get(f"/s/{invitation.token}/").content.decode()
        assert "Prisen" in page and 'value="2"' in page and 'value="the-delivery-time"' in page
    # The builder shows them back as written, and saving unchanged keeps them.
    builder = manager_client.get(f"/admin/feedback/survey/{question.survey_id}/change/").content.decode()
    assert "price: The price\nthe-delivery-time: The delivery time\n2: Two</textarea>" in builder
    assert "Prisen\nLeveringstiden\nTo</textarea>" in builder


def test_the_preview_shows_the_form_in_a_chosen_language(manager_client, agent_client):
    nps = Survey.objects.get(kind="nps")
    page = manager_client.get(f"/admin/feedback/survey/{nps.pk}/preview/?language=ru").content.decode()
    assert "Насколько вероятно, что вы порекомендуете нас другу или коллеге?" in page
    assert page.count('type="radio" disabled') == 11
    assert agent_client.get(f"/admin/feedback/survey/{nps.pk}/preview/").status_code == 200  # agents may look
    assert agent_client.get(f"/admin/feedback/survey/{nps.pk}/change/").status_code == 200
    assert agent_client.post(f"/admin/feedback/survey/{nps.pk}/change/", {}).status_code == 403
    # The builder names each question in the staff member's language.
    builder = manager_client.get(f"/admin/feedback/survey/{nps.pk}/change/", HTTP_ACCEPT_LANGUAGE="ko")
    assert '<span class="inline_label">그 점수를 주신 주된 이유는 무엇입니까?' in builder.content.decode()


def test_managers_switch_triggers_on_and_off(manager_client):
    trigger = SurveyTrigger.objects.get(kind="cli_repeat")
    page = manager_client.get(f"/admin/feedback/surveytrigger/{trigger.pk}/change/")
    assert page.status_code == 200
    response = manager_client.post(
        f"/admin/feedback/surveytrigger/{trigger.pk}/change/",
        {
            "survey": trigger.survey_id,
            "enabled": "on",
            "delay": "02:00:00",
            "first_after_days": "7",
            "every_days": "60",
        },
    )
    assert response.status_code == 302
    trigger.refresh_from_db()
    assert trigger.enabled and trigger.every_days == 60


@pytest.mark.parametrize(
    ("delay", "error"), [("3000000 00:00:00", "At most a year."), ("-01:00:00", "Cannot be negative.")]
)
def test_a_trigger_delay_past_a_year_or_below_zero_is_refused(manager_client, delay, error):
    """A CSAT invitation is timed from the delay when a ticket is resolved: 3,000,000
    days put it past the year 9999, and resolving any ticket failed."""
    trigger = SurveyTrigger.objects.get(kind="csat_after_ticket")
    form = {"survey": trigger.survey_id, "enabled": "on", "first_after_days": "7", "every_days": "60"}
    url = f"/admin/feedback/surveytrigger/{trigger.pk}/change/"
    response = manager_client.post(url, {**form, "delay": delay})
    assert response.context["adminform"].form.errors["delay"] == [error]
    assert manager_client.post(url, {**form, "delay": "365 00:00:00"}).status_code == 302


def test_invitations_and_responses_lists_read_a_fixed_number_of_queries(manager_client, django_assert_num_queries):
    answered(3)
    manager_client.get("/admin/feedback/surveyresponse/")  # warm the permission cache
    with django_assert_num_queries(5) as few:
        manager_client.get("/admin/feedback/surveyresponse/")
    answered(20, kind="csat", score="2")
    with django_assert_num_queries(len(few.captured_queries)):
        page = manager_client.get("/admin/feedback/surveyresponse/")
    assert page.status_code == 200 and re.search(r">C-\d{6}</a>", page.content.decode())  # recovery tickets
    # Unhappy answers are marked in red words, not with Django's green tick.
    assert page.content.decode().count('<span class="sla sla-late">Unhappy</span>') == 20
    assert "icon-yes.svg" not in page.content.decode()
    with django_assert_num_queries(len(few.captured_queries)):
        page = manager_client.get("/admin/feedback/surveyinvitation/?status=answered")
    assert page.status_code == 200 and "Answered" in page.content.decode()


def test_responses_export_as_csv_for_managers_only(manager_client, agent_client):
    answered(2)
    url = "/admin/feedback/surveyresponse/export/"
    form = manager_client.get(url).context["form"]
    columns = {name: "on" for name, field in form.fields.items() if getattr(field, "is_selectable_field", False)}
    response = manager_client.post(url, {**columns, "format": "0", "resource": "0"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    assert text.splitlines()[0].startswith("id,submitted_at,survey,kind,customer_id,customer_email")
    assert text.count('"{""score"": 9}"') == 2
    assert agent_client.get("/admin/feedback/surveyresponse/export/").status_code == 403


def test_a_manager_sees_how_many_a_campaign_reaches_then_sends_it(manager_client):
    people = [Customer.objects.create(email=f"p{n}@example.com", survey_consent=n != 0) for n in range(4)]
    ids = [str(person.pk) for person in people[:3]]
    nps = Survey.objects.get(kind="nps")
    page = manager_client.post("/admin/customers/customer/", {"action": "invite_to_survey", "_selected_action": ids})
    text = page.content.decode()
    assert page.status_code == 200 and "2 of the 3 chosen customers will get the invitation." in text
    assert "The customer has not agreed to surveys.: 1" in text
    response = manager_client.post(
        "/admin/customers/customer/",
        {
            "action": "invite_to_survey",
            "_selected_action": ids,
            "index": "0",
            "select_across": "0",
            "send": "Send",
            "survey": nps.pk,
            "name": "Winter",
            "timing": "now",
        },
    )
    assert response.status_code == 302
    from feedback.models import SurveyInvitation
    from feedback.surveys.models import SurveyCampaign

    campaign = SurveyCampaign.objects.get()
    assert (campaign.name, campaign.selected, campaign.invited) == ("Winter", 3, 2)
    assert {invitation.customer_id for invitation in SurveyInvitation.objects.filter(campaign=campaign)} == {
        people[1].pk,
        people[2].pk,
    }
    assert manager_client.get("/admin/feedback/surveycampaign/").status_code == 200


def test_agents_cannot_send_campaigns(agent_client):
    page = agent_client.get("/admin/customers/customer/").content.decode()
    assert "invite_to_survey" not in page


def test_invitations_filter_by_expired(manager_client):
    import time_machine
    from django.utils import timezone

    survey = Survey.objects.get(kind="nps")
    old = Customer.objects.create(email="old@example.com", survey_consent=True)
    new = Customer.objects.create(email="new@example.com", survey_consent=True)
    services.survey_invite(survey=survey, customer=old, source="api", now=timezone.now() - timezone.timedelta(days=40))
    services.survey_invite(survey=survey, customer=new, source="api")
    with time_machine.travel(timezone.now()):
        expired = manager_client.get("/admin/feedback/surveyinvitation/?status=expired").content.decode()
        sent = manager_client.get("/admin/feedback/surveyinvitation/?status=sent").content.decode()
    assert "old@example.com" in expired and "new@example.com" not in expired
    assert "new@example.com" in sent and "old@example.com" not in sent


def test_the_survey_page_shows_a_box_per_language_for_the_survey_and_its_questions(manager_client):
    survey = Survey.objects.get(kind="nps")
    page = manager_client.get(f"/admin/feedback/survey/{survey.pk}/change/").content.decode()
    assert f'value="{survey.title["da"]}"' in page and 'name="title__da"' in page
    assert 'name="questions-0-text__ko"' in page


def change_form(survey: Survey) -> dict:
    """The survey's change form as the admin would post it back, unchanged."""
    form = {
        "name": survey.name,
        "kind": survey.kind,
        "active": "on",
        "link_days": str(survey.link_days),
        "title__en": survey.title["en"],
        "questions-TOTAL_FORMS": str(survey.questions.count()),
        "questions-INITIAL_FORMS": str(survey.questions.count()),
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
    }
    for index, question in enumerate(survey.questions.order_by("position", "id")):
        prefix = f"questions-{index}-"
        form |= {
            prefix + "id": str(question.pk),
            prefix + "survey": str(survey.pk),
            prefix + "position": str(question.position),
            prefix + "key": question.key,
            prefix + "type": question.type,
            **({prefix + "required": "on"} if question.required else {}),
            prefix + "scale_min": str(question.scale_min),
            prefix + "scale_max": str(question.scale_max),
            prefix + "choices__en": "\n".join(
                f"{choice['value']}: {choice['label']['en']}" for choice in question.choices
            ),
            prefix + "max_length": str(question.max_length),
            prefix + "show_if_question": str(question.show_if_question_id or ""),
            prefix + "show_if_values": ", ".join(question.show_if_values),
            prefix + "text__en": question.text["en"],
        }
    return form


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (
            {"questions-0-show_if_question": "second", "questions-0-show_if_values": '["a"]'},
            "Choose an earlier question of this survey.",
        ),
        (
            {"questions-1-show_if_question": "second", "questions-1-show_if_values": '["a"]'},
            "Choose an earlier question of this survey.",
        ),
        ({"questions-1-show_if_question": "other", "questions-1-show_if_values": '["1"]'}, "Select a valid choice."),
        (
            {"questions-1-show_if_question": "first", "questions-1-show_if_values": '["11"]'},
            "Give one or more answers of that question: 0, 1, 2",
        ),
        (
            {"questions-1-show_if_question": "first", "questions-1-show_if_values": "[]"},
            "Give one or more answers of that question",
        ),
        (
            {"questions-3-show_if_question": "why", "questions-3-show_if_values": '["x"]'},
            "A question can depend only on a scale or a choice question.",
        ),
    ],
)
def test_a_condition_names_an_earlier_question_of_the_survey_and_its_answers(manager_client, condition, message):
    """A question shown only after an answer of itself, of a later question or of
    another survey's question, or after an answer its question cannot have, was saved
    and then never shown to anybody."""
    survey = Survey.objects.create(name="Delivery", title={"en": "Delivery"})
    first = Question.objects.create(
        survey=survey, key="score", position=0, text={"en": "Score?"}, scale_min=0, scale_max=10
    )
    second = Question.objects.create(
        survey=survey,
        key="pick",
        position=1,
        text={"en": "Pick"},
        type="single",
        choices=[{"value": "a", "label": {"en": "A"}}],
    )
    why = Question.objects.create(survey=survey, key="why", position=2, text={"en": "Why?"}, type="text")
    Question.objects.create(survey=survey, key="after", position=3, text={"en": "And?"}, type="text")
    other = Question.objects.create(survey=Survey.objects.get(kind="nps"), key="extra", position=9, text={"en": "x"})
    ids = {"first": first.pk, "second": second.pk, "why": why.pk, "other": other.pk}
    url = f"/admin/feedback/survey/{survey.pk}/change/"
    page = manager_client.get(url).content.decode()
    assert f'<option value="{second.pk}">' in page and f'<option value="{other.pk}">' not in page
    changed = {key: str(ids.get(value, value)) for key, value in condition.items()}
    response = manager_client.post(url, {**change_form(survey), **changed})
    assert response.status_code == 200 and message in html.unescape(response.content.decode())
    assert not Question.objects.filter(show_if_question__isnull=False).exists()
    # The answers are written "0, 1" (the JSON list the box took before still works: the
    # conditions above are written so).
    fine = {"questions-3-show_if_question": str(first.pk), "questions-3-show_if_values": "0, 1"}
    assert manager_client.post(url, {**change_form(survey), **fine}).status_code == 302
    after = Question.objects.get(key="after")
    assert after.show_if_question == first and after.show_if_values == ["0", "1"]
    assert 'value="0, 1"' in manager_client.get(url).content.decode()


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"questions-0-scale_min": "1", "questions-0-scale_max": "5"}, "score"),
        ({"questions-0-DELETE": "on"}, "score"),
        ({"questions-0-key": "points"}, "score"),
        ({"questions-0-required": None}, "score"),
        ({"kind": "cli"}, "recommend"),
    ],
)
def test_a_standard_survey_keeps_the_questions_its_scores_come_from(manager_client, change, key):
    """NPS is computed from the answers to "score" on 0-10: a manager who moved the
    question to 1-5, renamed, deleted or made it optional (or turned the survey into a
    CLI one) saved it, and the NPS figures went quietly wrong."""
    nps = Survey.objects.get(kind="nps")
    url = f"/admin/feedback/survey/{nps.pk}/change/"
    form = {**change_form(nps), "questions-0-DELETE": ""}
    assert manager_client.post(url, form).status_code == 302  # unchanged: fine
    changed = {name: value for name, value in {**form, **change}.items() if value is not None}
    response = manager_client.post(url, changed)
    assert response.status_code == 200
    assert f"the scale question “{key}”" in html.unescape(response.content.decode())
    score = nps.questions.get(key="score")
    assert (score.scale_min, score.scale_max, score.required) == (0, 10, True)


def test_a_trigger_sends_surveys_of_its_own_kind(manager_client):
    """The CSAT trigger pointed at the NPS survey was saved: its invitations then went
    on the CSAT schedule, and their answers counted as neither CSAT per agent nor as
    NPS asked on its own schedule."""
    trigger = SurveyTrigger.objects.get(kind="csat_after_ticket")
    form = {"enabled": "on", "delay": "01:00:00", "first_after_days": "7", "every_days": "60"}
    url = f"/admin/feedback/surveytrigger/{trigger.pk}/change/"
    response = manager_client.post(url, {**form, "survey": Survey.objects.get(kind="nps").pk})
    assert response.context["adminform"].form.errors["survey"] == [
        "Choose a survey of the kind “CSAT (1–5: how satisfied were you?)”: this trigger sends those."
    ]
    assert manager_client.post(url, {**form, "survey": Survey.objects.get(kind="csat").pk}).status_code == 302


def test_the_campaign_list_says_where_a_campaign_starts(manager_client):
    """It has no Add button: an empty list gave no hint of the customer list's action."""
    page = manager_client.get("/admin/feedback/surveycampaign/").content.decode()
    assert 'A campaign starts from the <a href="/admin/customers/customer/">customer list</a>' in page
    assert "Invite to a survey…" in page
