"""Server time of the admin's lists at a million customers and ten million orders, in
process (the request through Django's handler, templates included), with the number of
queries each page makes."""

from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from .common import timings

PAGES = [
    ("customers, unfiltered", "/admin/customers/customer/"),
    ("customers, page 50", "/admin/customers/customer/?p=50"),
    ("customers, searched by whole email", "/admin/customers/customer/?q=customer654321@bench.example"),
    ("customers, searched by part of an email", "/admin/customers/customer/?q=customer65432"),
    ("customers, filtered by channel", "/admin/customers/customer/?acquisition_channel__exact=social"),
    ("orders, unfiltered", "/admin/customers/order/"),
    ("orders, searched by order id", "/admin/customers/order/?q=BO04567890"),
    ("orders of one customer", "/admin/customers/order/?customer__id__exact=123456"),
]


def run(report) -> None:
    report.say("\n## Admin lists (server time per page, in process)")
    user, _ = User.objects.get_or_create(username="bench-agent", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="Support agent"))
    client = Client()
    client.force_login(user)
    for label, url in PAGES:
        client.get(url)  # warm the caches, as a second look at a page finds them
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        query_count = len(queries)  # now: the next request resets the log it reads from
        assert response.status_code == 200, (url, response.status_code)
        measured = timings(lambda url=url: client.get(url), repeat=15)
        report.figure(
            f"admin:{label}",
            measured["median"],
            f"  {label}: median {measured['median'] * 1000:.0f} ms, p95 {measured['p95'] * 1000:.0f} ms,"
            f" {query_count} queries",
        )
