"""Visit every page a staff member can reach and say which answered with a 500.

`admin_crawl` follows the admin's links from its index: every list with each of its
filters and sort orders, every object's page and its history and delete confirmation,
the project's own pages (dashboard, reports, previews). `api_crawl` reads the API's
OpenAPI schema and GETs every address, the lists with each query parameter the schema
names, with a plausible value, and the objects found in them. Used on PostgreSQL by
tests/test_crawl.py and on SQLite, the embedded default, by tests/test_embedded_default.py,
where the database functions differ and a 500 hides easily."""

import json
import re
from collections import Counter, deque
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

from django.conf import settings

# Links that change something or leave the admin.
SKIPPED = re.compile(r"/logout/|/password/|^/admin/r/|/jsi18n/")
VARIANTS = 2  # pages visited per address shape (ids replaced, same query keys)


def _shape(path: str, query: list[tuple[str, str]]) -> tuple:
    keys = tuple(sorted(key if key != "o" else f"o={value}" for key, value in query))
    return re.sub(r"/\d+/", "/N/", path), keys


def admin_crawl(client, *, start: str = "/admin/", limit: int = 5000) -> tuple[int, list]:
    """(pages visited, [(address, status, the page that linked to it), …] of those
    that failed)."""
    queue, seen, shapes, failures = deque([(start, "")]), set(), Counter(), []
    outside: dict[str, str] = {}  # our own pages outside the admin that it links to
    while queue and len(seen) < limit:
        address, linked_from = queue.popleft()
        if address in seen:
            continue
        seen.add(address)
        response = client.get(address)
        # A link on our own pages that answers 4xx is broken too (a lookup the list
        # refuses, a page the reader may not see).
        if response.status_code >= 400:
            failures.append((address, response.status_code, linked_from))
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        for href in re.findall(r'href="([^"#]*)"', response.content.decode()):
            parts = urlsplit(urljoin(address, href.replace("&amp;", "&")))
            if parts.netloc not in ("", "testserver", "localhost"):
                continue
            if not parts.path.startswith("/admin/"):
                if not parts.path.startswith(settings.STATIC_URL):  # the server's, not Django's to serve here
                    outside.setdefault(parts.path, address)  # "View site", the API's docs: opened once below
                continue
            if SKIPPED.search(parts.path):
                continue
            # One filter, sort order or page at a time: their combinations would be
            # thousands of pages, and each one alone is where a 500 would show.
            query = [
                item for item in parse_qsl(parts.query, keep_blank_values=True) if item[0] != "_changelist_filters"
            ]
            if len(query) > 1 or (query and query[0][0] == "o" and "." in query[0][1]):
                continue  # (a sort by several columns too)
            link = parts.path + (f"?{urlencode(query)}" if query else "")
            shape = _shape(parts.path, query)
            if link not in seen and shapes[shape] < VARIANTS:
                shapes[shape] += 1
                queue.append((link, address))
    for address, linked_from in outside.items():
        if address not in seen and not SKIPPED.search(address):
            seen.add(address)
            status = client.get(address, follow=True).status_code
            if status >= 400:
                failures.append((address, status, linked_from))
    return len(seen), failures


EXAMPLES = {"date": "2026-01-01", "date-time": "2026-01-01T00:00:00Z"}


def _example(parameter: dict):
    schema = parameter.get("schema", {})
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("type") == "array":
        items = schema.get("items", {})
        return items.get("enum", ["x"])[0]
    return {
        "integer": "1",
        "number": "1.5",
        "boolean": "true",
    }.get(schema.get("type"), EXAMPLES.get(schema.get("format"), "a"))


def api_crawl(client) -> tuple[int, list]:
    """(addresses visited, failures) for every GET of the schema."""
    schema = json.loads(client.get("/api/schema/", {"format": "json"}).content)
    visited, failures, found = 0, [], {}

    def get(address: str, query: dict | None = None):
        nonlocal visited
        visited += 1
        response = client.get(address, query or {}, HTTP_ACCEPT="application/json")
        if response.status_code >= 500:
            failures.append((address, query, response.status_code))
        return response

    paths = sorted(schema["paths"].items(), key=lambda item: item[0].count("{"))  # lists before their objects
    for path, operations in paths:
        if "get" not in operations:
            continue
        parameters = operations["get"].get("parameters", [])
        if "{" in path:
            # An object of the list above it: its first result's key.
            parent = path[: path.index("{")]
            key = re.search(r"\{(\w+)\}", path).group(1)
            value = found.get(parent, {}).get(key if key != "id" else "id")
            if value is None and key == "customer_id":
                value = found.get(parent, {}).get("customer")
            if value is None:
                continue
            get(re.sub(r"\{\w+\}", str(value), path))
            continue
        response = get(path)
        if response.status_code == 200:
            body = response.json()
            results = body.get("results", body) if isinstance(body, dict) else body
            if isinstance(results, list) and results and isinstance(results[0], dict):
                found[path] = results[0]
        for parameter in parameters:
            if parameter.get("in") == "query":
                get(path, {parameter["name"]: _example(parameter)})
    return visited, failures


def walk_the_demo() -> None:
    """For `manage.py shell` on the embedded default (after seed_demo --with-login):
    send the demo's win-back campaign, then walk the admin (pages, saving each object as
    shown, actions) as the demo manager and as a superuser, the API as the manager, and
    the customer pages. Prints what it found."""
    from django.contrib.auth.models import User
    from django.test import Client
    from rest_framework.test import APIClient

    from insights.campaigns import campaign_launch, campaigns_sweep
    from insights.models import WinBackCampaign

    for campaign in WinBackCampaign.objects.all():
        campaign_launch(campaign)
    campaigns_sweep()
    manager = User.objects.get(username="demo")
    root = User.objects.filter(username="crawl-root").first() or User.objects.create_superuser("crawl-root")
    failures, visited = [], 0
    for who in (manager, root):
        client = Client(raise_request_exception=False, HTTP_HOST="localhost")
        client.force_login(who)
        pages, failed = admin_crawl(client)
        saved, refused = admin_resave_walk(client)
        ran, failed_actions = admin_actions_walk(client, who)
        visited, failures = visited + pages + saved + ran, failures + failed + refused + failed_actions
    api = APIClient(raise_request_exception=False, HTTP_HOST="localhost")
    api.force_authenticate(manager)
    pages, failed = api_crawl(api)
    failures += failed + customer_pages_walk()
    print("visited", visited + pages, "failures", len(failures), failures)


def customer_pages_walk() -> list:
    """The customer pages through their personal links, each shown and posted to as a
    customer would: the support form, a ticket's page, a survey (refused answers, then
    accepted ones), the loyalty page with a redemption, the embedded survey, the
    unsubscribe page. [(what, status, expected)] of those that answered otherwise."""
    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from customers.models import Customer
    from customers.outbox import unsubscribe_url
    from feedback.models import ACTIVE_STATUSES, Ticket
    from feedback.services.emails import ticket_link
    from feedback.surveys.models import InvitationSource, Question, QuestionType, Survey, SurveyKind
    from feedback.surveys.services import embed_token_issue, survey_invite
    from loyalty.models import Account, Reward
    from loyalty.notices import page_url
    from loyalty.services import points_adjust

    def path_of(url: str) -> str:
        return urlsplit(url).path

    now = timezone.now()
    client = Client(raise_request_exception=False, HTTP_HOST="localhost")
    wrong = []

    def expect(what: str, response, *statuses: int):
        if response.status_code not in statuses:
            wrong.append((what, response.status_code, statuses))

    expect("support form", client.get("/support/"), 200)
    with transaction.atomic():
        ticket = Ticket.objects.filter(status__in=ACTIVE_STATUSES).order_by("pk").first()
        ticket_page = path_of(ticket_link(ticket))
    expect("ticket page", client.get(ticket_page), 200)
    expect("ticket message", client.post(ticket_page, {"message": "Any news?"}), 302)

    # A new customer, whom no contact rule keeps from a survey, asked in Korean.
    customer = Customer.objects.create(
        name="박지민", email=f"walk.{now.timestamp():.0f}@example.com", locale="ko", survey_consent=True
    )
    survey = Survey.objects.filter(kind=SurveyKind.NPS, active=True).first()
    invitation = survey_invite(survey=survey, customer=customer, source=InvitationSource.STAFF, now=now)
    survey_page = path_of(invitation.url())
    expect("survey", client.get(survey_page, {"score": "7"}), 200)
    expect("survey without answers", client.post(survey_page, {}), 400)
    answers, answers_key = {}, ""
    for question in Question.objects.filter(survey=invitation.survey, show_if_question__isnull=True):
        if question.type == QuestionType.SCALE:
            answers[question.key] = str(question.scale_min)
            answers_key = answers_key or question.key
        elif question.type in (QuestionType.SINGLE, QuestionType.MULTIPLE):
            answers[question.key] = str(question.choices[0]["value"])
        else:
            answers[question.key] = "The tea was cold."
    response = client.post(survey_page, answers)
    expect("survey answered", response, 302)
    if response.status_code == 302:
        expect("survey thanks", client.get(response["Location"]), 200)
    expect("the same answers again (a double click)", client.post(survey_page, answers), 302)
    other = {key: ("1" if value.isdigit() else value + "!") for key, value in answers.items()}
    expect("other answers to an answered survey", client.post(survey_page, other), 404)

    # The loyalty page of a member given just enough points for the cheapest reward.
    account = Account.objects.order_by("-balance").first()
    reward = Reward.objects.filter(active=True).exclude(stock=0).order_by("cost").first()
    if account.balance < reward.cost:
        points_adjust(customer=account.customer, points=reward.cost - account.balance, reason="Walk", author=None)
    loyalty_page = path_of(page_url(account, now=now))
    expect("loyalty page", client.get(loyalty_page), 200)
    response = client.post(loyalty_page, {"reward": reward.pk, "submission": "walk-1"})
    expect("redemption", response, 302)
    if response.status_code == 302:
        expect("loyalty page with the code", client.get(response["Location"]), 200)

    # The survey on a shop's page, for another new customer: shown, then answered.
    shopper = Customer.objects.create(
        name="Freja", email=f"walk.embed.{now.timestamp():.0f}@example.com", locale="da", survey_consent=True
    )
    embed = embed_token_issue(survey=survey, customer=shopper, now=now)
    response = client.get(f"/s/embed/{embed}/", follow=True)
    expect("embedded survey", response, 200)
    if response.redirect_chain:
        embedded_form = urlsplit(response.redirect_chain[-1][0]).path + "embedded/"
        expect("embedded survey answered", client.post(embedded_form, {**answers, answers_key: "10"}), 302)
    unsubscribe = path_of(unsubscribe_url(customer.email or "someone@example.com"))
    expect("unsubscribe page", client.get(unsubscribe), 200)
    expect("unsubscribed", client.post(unsubscribe), 200, 302)
    return wrong


def admin_actions_walk(client, user) -> tuple[int, list]:
    """Every action of every admin list, on two objects the list shows (a confirmation
    page, for the actions that have one, is shown and not confirmed). (actions run,
    [(list, action, status)] of those that answered with an error)."""
    from django.contrib import admin
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    ran, failures = 0, []
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
        if not model_admin.has_view_permission(request):
            continue
        chosen = [str(pk) for pk in model_admin.get_queryset(request).order_by("-pk").values_list("pk", flat=True)[:2]]
        if not chosen:
            continue
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for action in model_admin.get_actions(request):
            ran += 1
            response = client.post(url, {"action": action, "index": "0", "_selected_action": chosen})
            if response.status_code >= 400:
                failures.append((url, action, response.status_code))
            elif response.status_code == 302 and client.get(response["Location"]).status_code >= 400:
                failures.append((response["Location"], action, "after"))
    return ran, failures


class _FormValues(HTMLParser):
    """The values a browser would post from the admin's change form (its first form
    whose id ends in "_form"): inputs, ticked boxes, chosen options, text areas."""

    def __init__(self):
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self._inside = self._done = False
        self._select: str | None = None
        self._multiple = self._chosen = False
        self._first_option: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("id") or "").endswith("_form") and not self._done:
            self._inside = True
        if not self._inside:
            return
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type", "text") not in ("submit", "button", "file", "image"):
            if attrs.get("type") not in ("checkbox", "radio") or "checked" in attrs:
                self.values.append((name, attrs.get("value") or ("on" if attrs.get("type") == "checkbox" else "")))
        elif tag == "select":
            self._select, self._multiple, self._chosen, self._first_option = name, "multiple" in attrs, False, None
        elif tag == "option" and self._select:
            if self._first_option is None:
                self._first_option = attrs.get("value", "")
            if "selected" in attrs:
                self.values.append((self._select, attrs.get("value", "")))
                self._chosen = True
        elif tag == "textarea":
            self._textarea, self._text = name, ""

    def handle_endtag(self, tag):
        if tag == "form" and self._inside:
            self._inside, self._done = False, True
        elif tag == "select" and self._select:
            if not self._chosen and not self._multiple and self._first_option is not None:
                self.values.append((self._select, self._first_option))  # a browser sends the first
            self._select = None
        elif tag == "textarea" and self._textarea:
            # A browser drops the one newline right after <textarea>.
            self.values.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text += data


def admin_resave_walk(client, *, per_model: int = 3) -> tuple[int, list]:
    """Every object's admin page saved as it is shown, as "Save" in a browser would: it
    must go through (a redirect), or the page refuses what it shows itself. (pages
    saved, [(address, status, the errors shown)] of those refused)."""
    from django.contrib import admin

    saved, refused = 0, []
    for model, _model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
        for pk in model._default_manager.order_by("-pk").values_list("pk", flat=True)[:per_model]:
            address = f"/admin/{model._meta.app_label}/{model._meta.model_name}/{pk}/change/"
            page = client.get(address)
            if page.status_code != 200 or 'name="_save"' not in page.content.decode():
                continue  # a page to read only
            form = _FormValues()
            form.feed(page.content.decode())
            values: dict[str, list[str]] = {}
            for name, value in form.values:
                values.setdefault(name, []).append(value)
            response = client.post(address, {**values, "_save": "Save"})
            saved += 1
            if response.status_code != 302:
                errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode(), re.S)
                refused.append((address, response.status_code, [re.sub(r"<[^>]+>", "", e).strip() for e in errors]))
    return saved, refused
