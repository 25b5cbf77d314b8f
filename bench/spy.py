"""Where a request's time goes under load: py-spy samples the gunicorn workers while the
bench's load runs, and the share of the samples under each step is printed.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retention_crm_bench \\
        .venv/bin/python -m bench.spy redemptions|surveys|support

On the benchmark database (`make bench` makes it). Sampling slows the workers, so the
rates it prints are lower than the benchmark's; the shares are what it is for.
"""

import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import setup_django

BIN = Path(sys.executable).parent
SECONDS = 12

# The steps looked for in each sampled stack (a substring of a frame), per path.
STEPS = {
    "redemptions": {
        "waiting for PostgreSQL": "wait (psycopg",
        "health check (SELECT 1)": "is_usable",
        "token": "perform_authentication",
        "permissions": "check_permissions",
        "the customer and the reward": "rows_together",
        "the service (points_redeem)": "points_redeem",
        "the account's lock": "_account_row_locked",
        "the code": "_issue",
        "the spend": "_debit",
        "the commit": "commit (django",
        "the response": "to_representation",
    },
    "surveys": {
        "waiting for PostgreSQL": "wait (psycopg",
        "health check (SELECT 1)": "is_usable",
        "the invitation with its questions": "_invitation_with_questions",
        "checking the answers": "clean_answers",
        "the three writes": "_response_store",
        "recovery tickets": "_open_recovery_ticket",
        "the commit": "commit (django",
        "the whole service": "survey_response_submit",
        "the form (parsing, fields)": "_answers_from",
        "CSRF check": "process_view (django/middleware/csrf.py",
        "sessions": "django/contrib/sessions",
        "the redirect's signed value": "signing",
    },
    "support": {
        "waiting for PostgreSQL": "wait (psycopg",
        "health check (SELECT 1)": "is_usable",
        "opening the ticket": "ticket_open",
        "the customer": "customer_for_contact",
        "the SLA policy": "policy_for",
        "the acknowledgment": "send_ack",
        "rate limits": "ratelimit",
        "broker publish": "publish",
    },
}


def _record(server_pid: int, out: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            *(str(BIN / "py-spy"), "record", "-r", "200", "-f", "raw", "-o", out, "--subprocesses", "--nonblocking"),
            *("--pid", str(server_pid), "-d", str(SECONDS)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def shares(raw: str, steps: dict[str, str]) -> tuple[int, dict[str, float]]:
    """The number of samples, and the share of them with each step on the stack."""
    total, under = 0, collections.Counter()
    for line in Path(raw).read_text().splitlines():
        stack, _space, count = line.rpartition(" ")
        total += int(count)
        for label, frame in steps.items():
            if frame in stack:
                under[label] += int(count)
    return total, {label: under[label] / total if total else 0.0 for label in steps}


def leaves(raw: str, count: int = 15) -> list[tuple[float, str]]:
    """The frames the workers were in themselves (the innermost frame of each sample,
    waiting for PostgreSQL counted as such), the largest shares first."""
    total, under = 0, collections.Counter()
    for line in Path(raw).read_text().splitlines():
        stack, _space, samples = line.rpartition(" ")
        total += int(samples)
        under[stack.rsplit(";", 1)[-1]] += int(samples)
    return [(samples / total, frame) for frame, samples in under.most_common(count)] if total else []


def _sampled(start_load, cleanup=None) -> str:
    """Start gunicorn, warm it, sample it under load, print the shares."""
    from .api_orders import free_port, start_gunicorn

    port = free_port()
    server = start_gunicorn(port)
    handle, raw = tempfile.mkstemp(suffix=".raw")
    os.close(handle)
    try:
        start_load(port, 3)
        spy = _record(server.pid, raw)
        result = start_load(port, SECONDS + 1)
        spy.wait(timeout=60)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if cleanup:
            cleanup()
    print(f"{result['requests_per_second']:.0f} requests/s while sampled, p99 {result['p99_ms']:.0f} ms")
    return raw


def redemptions() -> str:
    from customers.models import Customer
    from loyalty.models import Reward, RewardKind

    from .loadgen import post_load
    from .loyalty import REDEEMING_ACCOUNTS, _integration_token, _redeeming_customers

    auth = {"Authorization": f"Token {_integration_token()}"}
    reward = Reward.objects.create(kind=RewardKind.GIFT, names={"en": "bench"}, cost=1)
    _redeeming_customers()
    rng = random.Random(5)

    def body(_n):
        return {"customer_id": f"BR-{rng.randint(1, REDEEMING_ACCOUNTS)}", "reward": reward.pk}

    def load(port, seconds):
        url = "/api/loyalty/redemptions/"
        return post_load("127.0.0.1", port, url, body, headers=auth, concurrency=20, seconds=seconds)

    def cleanup():
        Customer.objects.filter(external_id__startswith="BR-").delete()
        reward.delete()

    return _sampled(load, cleanup)


def surveys() -> str:
    from .loadgen import post_form_load
    from .support import csrf_pair
    from .surveys import _clean_submissions, _invitations

    run_id = f"{int(time.time())}"
    used = iter(_invitations(run_id))
    pair: list[tuple[str, str]] = []

    def answer(number: int) -> dict:
        return {"score": "3" if number % 10 == 0 else "9", "reason": "Bench answer."}

    def load(port, seconds):
        if not pair:
            pair.append(csrf_pair(port, "/support/"))
        cookie, token = pair[0]
        return post_form_load(
            "127.0.0.1", port, lambda _n: next(used), answer, cookie=cookie, token=token, seconds=seconds
        )

    return _sampled(load, lambda: _clean_submissions(run_id))


def support() -> str:
    from .support import NO_LIMITS, _clean, complaint, csrf_pair, form_load

    run_id = f"{int(time.time())}"
    os.environ.update(NO_LIMITS)  # before gunicorn starts: it inherits them
    fields = complaint(run_id)
    pair: list[tuple[str, str]] = []

    def load(port, seconds):
        if not pair:
            pair.append(csrf_pair(port, "/support/"))
        cookie, token = pair[0]
        return form_load(port, "/support/", fields, cookie, token, seconds=seconds)

    return _sampled(load, lambda: _clean(run_id))


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in STEPS:
        print(f"usage: python -m bench.spy {'|'.join(STEPS)}")
        return 2
    setup_django()
    raw = {"redemptions": redemptions, "surveys": surveys, "support": support}[argv[0]]()
    total, found = shares(raw, STEPS[argv[0]])
    print(f"{total:,} samples in the workers")
    for label, share in found.items():
        print(f"  {share:6.1%}  {label}")
    print("where the workers were themselves (innermost frames):")
    for share, frame in leaves(raw):
        print(f"  {share:6.1%}  {frame}")
    os.unlink(raw)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
