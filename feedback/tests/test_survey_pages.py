"""The survey pages behind an invitation's personal link, and unsubscribing: opening
never records, one press does; bad links look alike; errors in the customer's language."""

import re
from email import message_from_bytes
from email.policy import default as email_policy
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from customers.models import Customer, Delivery, Message, Unsubscribe
from customers.outbox import message_deliver, messages_deliver
from feedback.models import Survey, SurveyInvitation, SurveyResponse
from feedback.surveys import services
from feedback.surveys.models import InvitationStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(db):
    return Customer.objects.create(email="ann@example.com", name="Ann", survey_consent=True, locale="ko")


def invite(customer, kind="nps"):
    return services.survey_invite(survey=Survey.objects.get(kind=kind), customer=customer, source="api")


def path_of(invitation) -> str:
    return f"/s/{invitation.token}/"


def test_the_form_opens_in_the_customers_language_with_strict_headers(client, customer):
    invitation = invite(customer)
    response = client.get(path_of(invitation))
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="ko">' in page and "저희를 친구나 동료에게 추천할 가능성은 얼마나 됩니까?" in page
    assert page.count('type="radio" name="score"') == 11
    assert "csrfmiddlewaretoken" in page
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "same-origin" and response["Cache-Control"] == "no-store"


def test_opening_a_link_or_a_score_button_records_nothing(client, customer):
    invitation = invite(customer)
    page = client.get(path_of(invitation) + "?score=7").content.decode()
    assert 'value="7" checked' in page  # chosen, waiting for the customer's press
    client.head(path_of(invitation) + "?score=3")
    assert not SurveyResponse.objects.exists()
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.OPENED and invitation.opened_at is not None


def test_one_press_records_the_answer_and_a_second_is_refused(client, customer):
    invitation = invite(customer)
    response = client.post(path_of(invitation), {"score": "9", "reason": "좋아요"})
    assert response.status_code == 302 and response["Location"].startswith("/s/thanks/")
    response = client.get(response["Location"])
    assert response.status_code == 200
    (stored,) = SurveyResponse.objects.all()
    assert stored.score == 9 and stored.answers == {"score": 9, "reason": "좋아요"} and stored.language == "ko"
    again = client.post(path_of(invitation), {"score": "2"})
    assert again.status_code == 404 and SurveyResponse.objects.count() == 1
    # The same answers again (a double click, a retry): thanked, not told the link is dead.
    same = client.post(path_of(invitation), {"score": "9", "reason": "좋아요"})
    assert same.status_code == 302 and same["Location"].startswith("/s/thanks/")
    assert SurveyResponse.objects.count() == 1


def test_promoters_are_thanked_with_the_managers_link(client, customer):
    Survey.objects.filter(kind="nps").update(promoter_link="https://reviews.example.com/us")
    response = client.post(path_of(invite(customer)), {"score": "10"}, follow=True)
    assert "https://reviews.example.com/us" in response.content.decode()
    other = Customer.objects.create(email="bo@example.com", survey_consent=True)
    response = client.post(path_of(invite(other)), {"score": "8"}, follow=True)
    assert "https://reviews.example.com/us" not in response.content.decode()


def test_errors_are_shown_in_the_customers_language_and_nothing_is_saved(client, customer):
    invitation = invite(customer)
    response = client.post(path_of(invitation), {"score": "12"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "0에서 10 사이의 숫자를 고르세요." in page
    assert "error-summary" in page
    response = client.post(path_of(invitation), {"score": "", "reason": "x" * 2001})
    assert response.status_code == 400
    assert "x" * 2001 in response.content.decode()  # what was typed is kept
    assert not SurveyResponse.objects.exists()


def test_a_nul_character_in_an_answer_is_an_error_on_the_form_not_a_500(client, customer):
    """PostgreSQL refuses a NUL in the answers' JSON: the customer got a 500."""
    invitation = invite(customer)
    response = client.post(path_of(invitation), {"score": "2", "reason": "slow\x00 delivery"})
    assert response.status_code == 400
    assert not SurveyResponse.objects.exists()
    assert client.post(path_of(invitation), {"score": "2", "reason": "slow delivery"}).status_code == 302


def test_a_csat_form_in_russian_has_five_points(client):
    customer = Customer.objects.create(email="ivan@example.com", survey_consent=True, locale="ru")
    page = client.get(path_of(invite(customer, "csat"))).content.decode()
    assert "Насколько вы довольны полученной помощью?" in page
    assert page.count('type="radio" name="score"') == 5


@pytest.mark.parametrize(
    "token", ["1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "nonsense", "9" * 30 + ".x", "1²." + "A" * 43]
)
def test_unknown_forged_used_and_expired_links_show_the_same_page(client, customer, token):
    response = client.get(f"/s/{token}/")
    assert response.status_code == 404
    assert "This link does not work" in response.content.decode()
    response = client.post(f"/s/{token}/", {"score": "9"})
    assert response.status_code == 404


def test_the_form_needs_csrf(customer):
    client = Client(enforce_csrf_checks=True)
    response = client.post(path_of(invite(customer)), {"score": "9"})
    assert response.status_code == 403
    assert not SurveyResponse.objects.exists()


def test_a_changed_language_is_kept_on_the_form(client, customer):
    invitation = invite(customer)
    client.post("/i18n/setlang/", {"language": "da", "next": path_of(invitation)})
    assert "Hvor sandsynligt er det" in client.get(path_of(invitation)).content.decode()


# --- Unsubscribing -----------------------------------------------------------------------------


def sent_invitation(customer):
    invitation = invite(customer)
    message = Message.objects.get(key=f"survey:{invitation.pk}:invitation")
    message_deliver(message.pk)
    return message_from_bytes(mail.outbox[-1].message().as_bytes(), policy=email_policy)


def test_every_email_to_a_customer_carries_a_one_click_unsubscribe(customer):
    sent = sent_invitation(customer)
    assert sent["X-CRM-Kind"] == "survey_invitation"
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = re.fullmatch(r"<(http://\S+/unsubscribe/\S+/one-click/)>", str(sent["List-Unsubscribe"]).strip())
    assert header is not None


def test_the_mail_programs_one_click_post_unsubscribes_at_once(customer):
    url = re.search(r"<http://[^/]+(/unsubscribe/\S+/one-click/)>", str(sent_invitation(customer)["List-Unsubscribe"]))
    client = Client(enforce_csrf_checks=True)  # RFC 8058: no page, hence no CSRF token
    response = client.post(url.group(1), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Unsubscribe.objects.filter(email="ann@example.com").exists()
    assert client.get(url.group(1)).status_code == 405  # a GET (a scanner) changes nothing


def test_the_link_in_the_email_asks_once_and_one_press_unsubscribes(client, customer):
    invite_text = sent_invitation(customer).get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"http://[^/]+(/unsubscribe/\S+/)\s", invite_text).group(1)
    page = client.get(link)
    assert page.status_code == 200 and "ann@example.com" in page.content.decode()
    assert not Unsubscribe.objects.exists()  # opening is not unsubscribing
    done = client.post(link)
    assert done.status_code == 200 and Unsubscribe.objects.filter(email="ann@example.com").exists()
    with pytest.raises(services.ContactRefused) as refused:
        invite(Customer.objects.get(pk=customer.pk), "csat")
    assert refused.value.rule == "unsubscribed"


def test_the_unsubscribe_page_speaks_the_customers_language(client, customer):
    from customers.outbox import unsubscribe_url

    Customer.objects.filter(pk=customer.pk).update(locale="da")
    page = client.get(urlsplit(unsubscribe_url("ANN@example.com")).path).content.decode()
    assert '<html lang="da">' in page  # a browser that asks for no language in particular
    unknown = Client().get(urlsplit(unsubscribe_url("nobody@example.com")).path).content.decode()
    assert '<html lang="en">' in unknown


def test_a_forged_unsubscribe_link_does_nothing(client):
    assert client.get("/unsubscribe/bob@example.com/").status_code == 404
    assert client.post("/unsubscribe/Ym9i:forged:sig/one-click/").status_code == 404
    assert not Unsubscribe.objects.exists()


def test_an_invitation_waiting_to_be_sent_to_an_address_that_unsubscribed_is_cancelled(customer):
    invitation = invite(customer)
    Unsubscribe.objects.create(email="ann@example.com")
    message = Message.objects.get(key=f"survey:{invitation.pk}:invitation")
    assert message_deliver(message.pk) == "cancelled"
    message.refresh_from_db()
    assert message.delivery == Delivery.CANCELLED and not mail.outbox


def test_the_invitation_is_not_sent_after_it_was_answered(customer):
    invitation = invite(customer)
    services.survey_response_submit(token=invitation.token, answers={"score": "9"})
    message = Message.objects.get(key=f"survey:{invitation.pk}:invitation")
    assert message_deliver(message.pk) == "cancelled"
    assert SurveyInvitation.objects.get().status == InvitationStatus.ANSWERED


def test_the_contact_form_asks_whether_we_may_survey_afterwards(client):
    form = {"name": "Ann", "email": "new@example.com", "kind": "question", "message": "Hello there", "website": ""}
    client.post("/support/", form)
    assert Customer.objects.get(email="new@example.com").survey_consent is False
    client.post("/support/", {**form, "survey_consent": "on"})
    assert Customer.objects.get(email="new@example.com").survey_consent is True
    client.post("/support/", form)  # a later ticket without the tick withdraws nothing
    assert Customer.objects.get(email="new@example.com").survey_consent is True


def test_a_staff_reply_carries_the_unsubscribe_link_too(agent):
    from feedback.services import ticket_open, ticket_reply

    ticket = ticket_open(email="ann@example.com", description="Hello", kind="question")
    reply = ticket_reply(ticket=ticket, text="We are on it.", author=agent)
    assert "/unsubscribe/" in reply.body and "/unsubscribe/" in reply.body_html


def test_a_delivery_chunk_of_invitations_reads_a_fixed_number_of_queries(django_assert_num_queries):
    def chunk(count: int, start: int) -> list[int]:
        ids = []
        for number in range(start, start + count):
            person = Customer.objects.create(email=f"c{number}@example.com", survey_consent=True)
            invitation = invite(person)
            ids.append(Message.objects.get(key=f"survey:{invitation.pk}:invitation").pk)
        return ids

    small, large = chunk(2, 0), chunk(12, 100)
    with CaptureQueriesContext(connection) as few:
        assert messages_deliver(small) == {"sent": 2, "skipped": 0}
    with django_assert_num_queries(len(few.captured_queries)):
        assert messages_deliver(large) == {"sent": 12, "skipped": 0}
