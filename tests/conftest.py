"""Fixtures of the project-wide tests: the live processes of tests/live.py."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token

from .live import PrivateRedis, SmtpSink, Stack

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def sink():
    sink = SmtpSink()
    controller = sink.start()
    yield sink
    controller.stop()


@pytest.fixture
def private_redis(tmp_path):
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def stack(request, tmp_path, sink, private_redis):
    """Web (gunicorn), a worker and beat, running against the test database."""
    stack = Stack(tmp_path, sink, private_redis)
    try:
        stack.start_web()
        stack.start_worker()
        stack.start_beat()
        yield stack
    finally:
        stack.stop()
        report = getattr(request.node, "report_call", None)
        if report is None or report.failed:
            # Keep the processes' logs where CI shows them, and print their ends.
            ARTIFACTS.mkdir(exist_ok=True)
            for name in ("web", "worker", "beat"):
                text = stack.log(name)
                (ARTIFACTS / f"{request.node.name}-{name}.log").write_text(text)
                print(f"----- {name} -----\n{text[-6000:]}")


@pytest.fixture
def api_token(db) -> str:
    user = User.objects.create_user("integration", "integration@example.com", "x", is_staff=True)
    user.groups.add(Group.objects.get(name="Support agent"))
    return Token.objects.create(user=user).key
