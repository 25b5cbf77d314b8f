"""The pages customers use: the contact form (five languages, validation, honeypot,
rate limits, CSRF, strict headers) and a ticket's own page behind its personal link."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from customers.models import Customer, Entry, Message
from customers.outbox import message_deliver
from feedback.models import Ticket, TicketAccess, TicketStatus
from feedback.services import ticket_close

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "Ann Archer",
    "email": "ann@example.com",
    "kind": "complaint",
    "order_reference": "",
    "message": "The parcel arrived broken.",
    "website": "",
}
HEADINGS = {"en": "Contact us", "da": "Kontakt os", "ru": "Свяжитесь с нами", "ko": "문의하기", "zh-hans": "联系我们"}


@pytest.fixture(autouse=True)
def _fresh_limits():
    cache.clear()


def link_in(message: Message) -> str:
    """The personal link of an email (written out by delivering it, as a worker would)."""
    message_deliver(message.pk)
    message.refresh_from_db()
    return re.search(r"/support/t/[\w-]+/", message.body).group(0)


@pytest.mark.parametrize("language", HEADINGS)
def test_the_form_speaks_five_languages_with_strict_headers(client, language):
    response = client.get("/support/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    page = response.content.decode()
    assert HEADINGS[language] in page
    assert f'<html lang="{language}">' in page
    assert "csrfmiddlewaretoken" in page
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response["Referrer-Policy"] == "same-origin"  # no Referer to any other site


def test_a_complaint_becomes_a_ticket_and_the_thanks_page_shows_its_reference(client):
    response = client.post("/support/", GOOD, HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert ticket.channel == "web" and ticket.kind == "complaint" and ticket.language == "ru"
    assert ticket.customer.locale == "ru"
    thanks = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="ru")
    assert ticket.reference in thanks.content.decode()
    assert Message.objects.filter(key=f"ticket:{ticket.pk}:ack", language="ru").exists()


def test_a_form_sent_twice_is_one_ticket_and_one_acknowledgment(client):
    """A double click, or a retry after a slow answer: the page's one-time token with the
    same words gives the first ticket again."""
    page = client.get("/support/").content.decode()
    submission = re.search(r'name="submission" value="(\w+)"', page).group(1)
    first = client.post("/support/", {**GOOD, "submission": submission})
    again = client.post("/support/", {**GOOD, "submission": submission})
    assert first.status_code == again.status_code == 302
    ticket = Ticket.objects.get()
    assert ticket.reference in client.get(again["Location"]).content.decode()
    assert Message.objects.filter(ticket=ticket, entry=Entry.INBOUND).count() == 1
    assert Message.objects.filter(key__startswith="ticket:", ticket=ticket).count() == 1  # one acknowledgment
    # The same page sent with other words (back, edit, send) is another ticket; so is
    # a post without the token (an old page).
    client.post("/support/", {**GOOD, "submission": submission, "message": "And the lid is missing."})
    client.post("/support/", GOOD)
    assert client.post("/support/", {**GOOD, "submission": "x" * 5000}).status_code == 302  # hashed: any length
    assert Ticket.objects.count() == 4


def test_the_thanks_page_does_not_show_a_reference_it_did_not_sign(client):
    page = client.get("/support/thanks/?r=C-000001").content.decode()
    assert 'class="reference"' not in page


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": ""}, "email"),
        ({"email": "not an address"}, "email"),
        ({"name": ""}, "name"),
        ({"message": ""}, "message"),
        ({"message": "x" * 5001}, "message"),
        ({"kind": "rant"}, "kind"),
        ({"order_reference": "x" * 65}, "order_reference"),
    ],
)
def test_bad_input_is_explained_and_nothing_is_saved(client, change, field):
    response = client.post("/support/", {**GOOD, **change})
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert 'class="error-summary"' in response.content.decode()
    assert not Ticket.objects.exists() and not Customer.objects.exists()


def test_a_filled_honeypot_looks_like_success_and_saves_nothing(client):
    response = client.post("/support/", {**GOOD, "website": "http://spam.example"})
    assert response.status_code == 302
    assert not Ticket.objects.exists()


def test_a_burst_of_posts_from_one_address_gets_a_friendly_429(client, settings):
    settings.SUPPORT_TICKETS_PER_EMAIL_PER_HOUR = 2
    statuses = [client.post("/support/", GOOD).status_code for _ in range(4)]
    assert statuses == [302, 302, 429, 429]
    assert Ticket.objects.count() == 2
    response = client.post("/support/", GOOD, HTTP_ACCEPT_LANGUAGE="da")
    assert "Vent venligst lidt" in response.content.decode()


def test_a_burst_of_posts_from_one_ip_gets_429(client, settings):
    settings.SUPPORT_POSTS_PER_IP_PER_HOUR = 3
    statuses = [client.post("/support/", {**GOOD, "email": f"p{n}@example.com"}).status_code for n in range(5)]
    assert statuses == [302, 302, 302, 429, 429]


def test_with_redis_unreachable_the_form_still_works_and_says_so(client, settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/1"  # nothing listens there
    assert client.post("/support/", GOOD).status_code == 302
    assert Ticket.objects.count() == 1
    assert "letting the request through" in caplog.text


def test_the_form_needs_its_csrf_token():
    client = Client(enforce_csrf_checks=True)
    assert client.post("/support/", GOOD).status_code == 403
    assert not Ticket.objects.exists()


# --- The ticket's own page --------------------------------------------------------------


def test_the_personal_link_shows_the_ticket_and_takes_a_message(client):
    client.post("/support/", GOOD, HTTP_ACCEPT_LANGUAGE="ko")
    ticket = Ticket.objects.get()
    link = link_in(Message.objects.get(key=f"ticket:{ticket.pk}:ack"))
    response = Client().get(link)  # a fresh browser: the ticket's language (Korean)
    page = response.content.decode()
    assert response.status_code == 200 and ticket.reference in page and "The parcel arrived broken." in page
    assert '<html lang="ko">' in page
    assert response["Referrer-Policy"] == "same-origin" and response["Cache-Control"] == "no-store"
    response = client.post(link, {"message": "Here is a photo."})
    assert response.status_code == 302
    assert Message.objects.filter(ticket=ticket, entry=Entry.INBOUND, body="Here is a photo.").exists()
    # Sent twice from one page load (a double click): one message.
    submission = re.search(r'name="submission" value="(\w+)"', page).group(1)
    for _ in range(2):
        assert client.post(link, {"message": "And another.", "submission": submission}).status_code == 302
    assert Message.objects.filter(ticket=ticket, body="And another.").count() == 1


def test_internal_notes_never_show_on_the_customers_page(client, open_ticket, agent):
    from feedback.services import ticket_note_add

    ticket = open_ticket()
    ticket_note_add(ticket=ticket, text="Customer seems angry, careful", author=agent)
    page = client.get(link_in(Message.objects.get(key=f"ticket:{ticket.pk}:ack"))).content.decode()
    assert "careful" not in page


def test_the_page_shows_what_we_wrote_without_the_inbox_parts_in_the_customers_time(client, open_ticket, agent):
    """Each email sent carries a link to this very page and an unsubscribe link: the
    page leaves those paragraphs out (they made it wider than a phone too). An email the
    outbox has not written out yet has no text: it is not shown as an empty box."""
    from feedback.services import ticket_reply, ticket_resolve

    ticket = open_ticket()
    Customer.objects.filter(pk=ticket.customer_id).update(time_zone="Asia/Seoul")
    link = link_in(Message.objects.get(key=f"ticket:{ticket.pk}:ack"))
    reply = ticket_reply(ticket=ticket, text="A new kettle is on its way.", author=agent)
    assert "/support/t/" in reply.body and "/unsubscribe/" in reply.body  # the email has them
    ticket_resolve(ticket=ticket)  # its email waits for the outbox: no text yet
    page = client.get(link).content.decode()
    assert "A new kettle is on its way." in page
    assert f'Your reference is <span class="ref">{ticket.reference}</span>' in page
    reply_link = re.search(r"/support/t/[\w-]+/", reply.body).group(0)  # another token than this page's
    assert reply_link not in page and "/unsubscribe/" not in page
    assert page.count('<li class="outbound">') == 2 and page.count('<li class="inbound">') == 1
    assert "+09:00" in page  # the times in the customer's zone


@pytest.mark.parametrize("token", ["forged-token-that-does-not-exist", "x" * 200])
def test_an_unknown_link_shows_the_same_friendly_page(client, token):
    response = client.get(f"/support/t/{token}/")
    assert response.status_code == 404
    assert "This link does not work" in response.content.decode()


def test_an_expired_link_shows_the_same_friendly_page(client, open_ticket):
    ticket = open_ticket()
    link = link_in(Message.objects.get(key=f"ticket:{ticket.pk}:ack"))
    TicketAccess.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(link)
    assert response.status_code == 404 and "This link does not work" in response.content.decode()


def test_writing_on_a_closed_tickets_page_opens_a_new_ticket(client, open_ticket):
    ticket = open_ticket()
    link = link_in(Message.objects.get(key=f"ticket:{ticket.pk}:ack"))
    ticket_close(ticket=ticket)
    page = client.get(link).content.decode()
    assert "This request is closed" in page
    response = client.post(link, {"message": "One more thing"})
    assert response.status_code == 302 and "/support/t/" in response["Location"]
    new = Ticket.objects.exclude(pk=ticket.pk).get()
    assert new.status == TicketStatus.NEW and new.customer == ticket.customer


def test_an_empty_message_on_the_ticket_page_is_refused(client, open_ticket):
    ticket = open_ticket()
    link = link_in(Message.objects.get(key=f"ticket:{ticket.pk}:ack"))
    response = client.post(link, {"message": ""})
    assert response.status_code == 400
    assert Message.objects.filter(ticket=ticket, entry=Entry.INBOUND).count() == 1


def test_an_unknown_address_a_failed_form_and_an_error_speak_the_customers_language(client):
    """Django's own pages were English and unstyled: "Not Found", a CSRF page written for
    developers, and a bare "Server Error (500)"."""
    from django.template.loader import render_to_string
    from django.test import Client
    from django.utils import translation

    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 404
    page = response.content.decode()
    assert "<h1>Страница не найдена</h1>" in page and 'href="/support/"' in page
    assert "default-src 'none'" in response["Content-Security-Policy"]

    strict = Client(enforce_csrf_checks=True)
    refused = strict.post("/support/", GOOD, HTTP_ACCEPT_LANGUAGE="da")
    assert refused.status_code == 403
    assert "<h1>Formularen kunne ikke sendes</h1>" in refused.content.decode()
    assert not Ticket.objects.exists()

    with translation.override("ko"):
        error_page = render_to_string("500.html")  # as Django's server_error renders it: no request
    assert "<h1>문제가 발생했습니다</h1>" in error_page and 'lang="ko"' in error_page


def test_a_reference_in_the_conversation_stays_on_one_line(client):
    """On a phone "C-000013" broke at its hyphen; the text is still escaped."""
    from feedback.views import as_page_html

    html = as_page_html("Your reference is C-000013.\n<b>not bold</b>")
    assert html == 'Your reference is <span class="ref">C-000013</span>.<br>&lt;b&gt;not bold&lt;/b&gt;'
    # Korean writes the particle right after the number (\b saw no reference there).
    assert as_page_html("참조 번호는 C-000013입니다.") == '참조 번호는 <span class="ref">C-000013</span>입니다.'


def test_a_reference_is_found_with_a_particle_after_it_but_not_inside_a_word():
    from feedback.models import ticket_id_from_reference

    assert ticket_id_from_reference("Re: 참조 번호 C-000042입니다") == 42
    assert ticket_id_from_reference("[c-000007]") == 7
    assert ticket_id_from_reference("ABC-000042") is None
    assert ticket_id_from_reference("C-0000420000000000") is None


def test_the_sites_root_is_the_support_form(client, agent_client):
    """The admin's "View site" link led to the root, a 404."""
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/support/"
    assert 'href="/">' in agent_client.get("/admin/").content.decode()  # "View site"
