"""The survey API: invitations (CONTRACT.md), responses, surveys and the scores."""

import pytest

from customers.models import Customer
from feedback.models import Survey, SurveyInvitation
from feedback.surveys import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(db):
    return Customer.objects.create(external_id="c-1", email="ann@example.com", survey_consent=True)


def nps() -> Survey:
    return Survey.objects.get(kind="nps")


def test_an_invitation_by_customer_id_returns_the_personal_link(agent_api, customer):
    response = agent_api.post("/api/survey-invitations/", {"survey": nps().pk, "customer_id": "c-1"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    invitation = SurveyInvitation.objects.get()
    assert body["id"] == invitation.pk and body["url"] == invitation.url()
    assert body["url"].startswith("http") and body["expires_at"] and body["status"] == "sent"
    assert "url" not in agent_api.get(f"/api/survey-invitations/{invitation.pk}/").json()  # shown once


def test_an_invitation_by_email_any_case(agent_api, customer):
    response = agent_api.post(
        "/api/survey-invitations/", {"survey": nps().pk, "customer_email": "ANN@example.com"}, format="json"
    )
    assert response.status_code == 201


def test_a_contact_rule_refusal_is_a_409_naming_the_rule(agent_api, customer):
    agent_api.post("/api/survey-invitations/", {"survey": nps().pk, "customer_id": "c-1"}, format="json")
    response = agent_api.post("/api/survey-invitations/", {"survey": nps().pk, "customer_id": "c-1"}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": services.rule_message("recent_survey"), "rule": "recent_survey"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customer_id": "c-1"}, "survey"),
        ({"survey": 99999, "customer_id": "c-1"}, "survey"),
        ({"survey": "nps"}, "survey"),
        ({"survey": None}, "survey"),
        ({"survey": "SURVEY"}, "customer_id"),
        ({"customer_id": "nobody", "survey": "SURVEY"}, "customer_id"),
        ({"customer_email": "not-an-address", "survey": "SURVEY"}, "customer_email"),
        ({"send_at": "tomorrow", "survey": "SURVEY", "customer_id": "c-1"}, "send_at"),
    ],
)
def test_bad_input_is_a_400_per_field(agent_api, customer, body, field):
    body = {key: (nps().pk if value == "SURVEY" else value) for key, value in body.items()}
    response = agent_api.post("/api/survey-invitations/", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert not SurveyInvitation.objects.exists()


def test_a_scheduled_invitation_is_sent_later(agent_api, customer):
    response = agent_api.post(
        "/api/survey-invitations/",
        {"survey": nps().pk, "customer_id": "c-1", "send_at": "2099-01-01T09:00:00Z"},
        format="json",
    )
    assert response.status_code == 201 and response.json()["status"] == "scheduled"


def test_responses_are_read_with_filters(agent_api, customer):
    invitation = services.survey_invite(survey=nps(), customer=customer, source="api")
    services.survey_response_submit(token=invitation.token, answers={"score": "3", "reason": "Slow"})
    rows = agent_api.get("/api/survey-responses/?kind=nps&unhappy=true&customer_id=c-1").json()["results"]
    assert [(row["score"], row["kind"], row["answers"]["reason"]) for row in rows] == [("3.00", "nps", "Slow")]
    assert agent_api.get("/api/survey-responses/?kind=csat").json()["results"] == []
    assert agent_api.post("/api/survey-responses/", {}, format="json").status_code in (403, 405)


def test_surveys_list_their_questions(agent_api):
    surveys = agent_api.get("/api/surveys/").json()
    by_kind = {survey["kind"]: survey for survey in surveys}
    assert [question["key"] for question in by_kind["cli"]["questions"]] == ["recommend", "rebuy", "try"]


def test_the_scores_need_the_managers_permission(agent_api, manager_api):
    assert agent_api.get("/api/metrics/surveys/?start=2026-11-01&end=2026-11-30").status_code == 403
    response = manager_api.get("/api/metrics/surveys/?start=2026-11-01&end=2026-11-30")
    assert response.status_code == 200
    assert set(response.json()) >= {"nps", "csat", "cli", "trend", "segments", "response_rates", "recovery"}
    bad = manager_api.get("/api/metrics/surveys/?start=2026-11-30&end=2026-11-01")
    assert bad.status_code == 400 and "end" in bad.json()


def test_without_a_role_nothing_is_visible(api_client, outsider):
    api_client.force_authenticate(outsider)
    assert api_client.get("/api/survey-responses/").status_code == 403
    assert api_client.post("/api/survey-invitations/", {}, format="json").status_code == 403
    assert api_client.get("/api/surveys/").status_code == 403


def test_the_schema_describes_the_survey_endpoints(manager_api):
    schema = manager_api.get("/api/schema/?format=json").json()
    assert "/api/survey-invitations/" in schema["paths"] and "/api/metrics/surveys/" in schema["paths"]


def test_survey_report_prints_the_apis_object_and_refuses_a_bad_period(customer):
    import json
    from io import StringIO

    from django.core.management import CommandError, call_command

    invitation = services.survey_invite(survey=nps(), customer=customer, source="api")
    services.survey_response_submit(token=invitation.token, answers={"score": "10"})
    out = StringIO()
    today = invitation.sent_at.date().isoformat()
    call_command("survey_report", "--start", today, "--end", today, "--json", stdout=out)
    assert json.loads(out.getvalue())["nps"] == {
        "responses": 1,
        "promoters": 1,
        "passives": 0,
        "detractors": 0,
        "nps": 100.0,
    }
    out = StringIO()
    call_command("survey_report", "--start", today, "--end", today, stdout=out)
    assert "NPS     100.0  (answers: 1; promoters: 1, passives: 0, detractors: 0)" in out.getvalue()
    with pytest.raises(CommandError, match="is before start"):
        call_command("survey_report", "--start", "2026-11-02", "--end", "2026-11-01")
