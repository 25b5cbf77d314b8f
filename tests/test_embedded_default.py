"""`make run`'s promise: on a bare machine (SQLite, kombu's filesystem transport, mail
files, no server of any kind) the web server, a worker and beat start together, the
admin serves the demo data with the demo login, the worker runs tasks, and Ctrl-C stops
all three. The processes are the real ones from Procfile.dev."""

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bare_env(var_dir: Path, port: int) -> dict:
    """The environment of a machine with nothing configured."""
    drop = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "EMAIL_URL", "DJANGO_SETTINGS_MODULE", "DEBUG")
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update(VAR_DIR=str(var_dir), PORT=str(port), PYTHONUNBUFFERED="1")
    return env


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_embedded_default_serves_the_demo_and_runs_tasks(tmp_path):
    port = free_port()
    env = bare_env(tmp_path / "var", port)
    manage = [str(BIN / "python"), "manage.py"]
    for step in (["migrate", "--no-input", "-v0"], ["seed_demo", "--if-empty", "--with-login", "--customers", "150"]):
        subprocess.run(manage + step, cwd=ROOT, env=env, check=True, timeout=300)
    assert (tmp_path / "var" / "db.sqlite3").exists()
    # The loyalty program's SQL on SQLite: the demo's orders earned points; the nightly
    # tier evaluation and the sweeps run (and keep the ledger's invariant).
    loyalty = subprocess.run(
        [
            *manage,
            "shell",
            "-c",
            "from loyalty.services import tiers_evaluate, pending_release_sweep, points_expiry_sweep,"
            " qualifying_value, tier_for_value;"
            "from loyalty.models import Account, Entry; from django.db.models import Sum;"
            "from django.utils import timezone;"
            "Account.objects.update(tier=None); print(tiers_evaluate());"
            "print(pending_release_sweep(), points_expiry_sweep());"
            "wrong = [a.pk for a in Account.objects.all() if a.tier_id != getattr(tier_for_value("
            " qualifying_value(a.pk, now=timezone.now())), 'pk', None)];"
            "totals = Account.objects.aggregate(b=Sum('balance'), p=Sum('pending'));"
            "print('accounts', Account.objects.count(), 'wrong tiers', len(wrong), 'in step',"
            " totals['b'] + totals['p'] == Entry.objects.aggregate(s=Sum('points'))['s'])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loyalty.returncode == 0, loyalty.stderr
    assert "wrong tiers 0 in step True" in loyalty.stdout and "accounts 0" not in loyalty.stdout, loyalty.stdout
    # The nightly churn risk and CLV on SQLite: every customer scored, the parts add up,
    # the order counts agree with the orders.
    insights = subprocess.run(
        [
            *manage,
            "shell",
            "-c",
            "from insights.scoring import scores_compute; from insights.models import CustomerScore as S;"
            "from customers.models import Order; from django.db.models import Count, F;"
            "run = scores_compute(); from loyalty.rollup import ledger_days_rebuild; days = ledger_days_rebuild();"
            "parts = S.objects.exclude(churn_risk=F('risk_rhythm') + F('risk_complaints') + F('risk_surveys')"
            " + F('risk_points')).count();"
            "counts = dict(Order.objects.counted().values_list('customer_id').annotate(n=Count('id')).order_by());"
            "orders = sum(1 for s in S.objects.all() if s.orders != counts.get(s.customer_id, 0));"
            "print('scored', run.customers, 'at risk', S.objects.filter(churn_risk__gt=0).count(),"
            " 'valued', S.objects.filter(predicted_clv__gt=0).count(), 'ledger days', days, 'wrong', parts + orders)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert insights.returncode == 0, insights.stderr
    assert "scored 150 " in insights.stdout and "wrong 0" in insights.stdout, insights.stdout
    assert "at risk 0 " not in insights.stdout and "valued 0 " not in insights.stdout, insights.stdout
    assert "ledger days 0 " not in insights.stdout, insights.stdout

    # Every admin page and API address on SQLite, where the database's functions differ
    # (the win-back lists once multiplied a number of days by a timedelta: a 500 here).
    walk = subprocess.run(
        [*manage, "shell", "-c", "from tests.crawl import walk_the_demo; walk_the_demo()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert walk.returncode == 0, walk.stderr[-5000:]
    assert "failures 0 " in walk.stdout, walk.stdout
    assert int(walk.stdout.split("visited ")[1].split()[0]) > 1000, walk.stdout

    log = (tmp_path / "honcho.log").open("w+")
    honcho = subprocess.Popen(
        [str(BIN / "python"), "scripts/run_dev.py", "-f", "Procfile.dev", "start", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output = lambda: (tmp_path / "honcho.log").read_text()  # noqa: E731
        wait_for(lambda: "celery@" in output() and " ready." in output(), 90, "the worker")
        wait_for(lambda: "beat: Starting" in output(), 60, "beat")

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{port}"

        def login_page():
            try:
                return opener.open(f"{base}/admin/login/", timeout=5).read().decode()
            except OSError:
                return None

        page = wait_for(login_page, 60, "the web server")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": "demo", "password": "demo", "next": "/admin/"}
        ).encode()
        request = urllib.request.Request(f"{base}/admin/login/", data=form, headers={"Referer": f"{base}/admin/login/"})
        dashboard = opener.open(request, timeout=10).read().decode()  # the admin's first page
        assert "Log out" in dashboard and 'id="card-retention_rate"' in dashboard, dashboard[-3000:]
        assert dashboard.count('<svg role="img"') == 4 and "No data yet" not in dashboard
        customers = opener.open(f"{base}/admin/customers/customer/", timeout=10).read().decode()
        assert re.search(r"DEMO-C\d{5}", customers), customers[-3000:]
        first = re.search(r'href="/admin/customers/customer/(\d+)/change/', customers).group(1)
        customer_page = opener.open(f"{base}/admin/customers/customer/{first}/change/", timeout=10).read().decode()
        assert 'id="customer-timeline"' in customer_page and "Churn risk" in customer_page

        # A task queued by another process reaches the worker through var/broker/.
        subprocess.run(
            [*manage, "shell", "-c", "from customers.tasks import purge_import_uploads; purge_import_uploads.delay()"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=60,
        )
        wait_for(lambda: "purge_import_uploads" in output() and "succeeded" in output(), 60, "the task to run")

        # The ticket flow on the embedded default: the form's complaint is acknowledged
        # by the worker, into var/mail/ (the demo tickets' acknowledgments are there too).
        assert "C-0000" in opener.open(f"{base}/admin/feedback/ticket/", timeout=10).read().decode()
        form = opener.open(f"{base}/support/", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        complaint = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token,
                "name": "Ann Archer",
                "email": "ann.archer@example.net",
                "kind": "complaint",
                "message": "The kettle leaks.",
                "website": "",
            }
        ).encode()
        request = urllib.request.Request(f"{base}/support/", data=complaint, headers={"Referer": f"{base}/support/"})
        assert "C-0000" in opener.open(request, timeout=10).read().decode()  # the thanks page and its reference

        def acknowledged():
            for path in (tmp_path / "var" / "mail").glob("*"):
                text = path.read_text(errors="replace")
                if "ann.archer@example.net" in text and "X-CRM-Kind: ticket_ack" in text:
                    return True
            return False

        wait_for(acknowledged, 60, "the acknowledgment in var/mail/")
    finally:
        os.killpg(honcho.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        try:
            honcho.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            raise AssertionError("Ctrl-C did not stop the processes") from None
    log.close()
    # Each process stopped by itself: the worker's warm shutdown was not cut off.
    assert "SIGKILL" not in output(), output()[-3000:]
    assert "worker.1 stopped" in output(), output()[-3000:]
    # Nothing of web, worker or beat outlives Ctrl-C.
    time.sleep(1)
    with pytest.raises(ProcessLookupError):
        os.killpg(honcho.pid, 0)
