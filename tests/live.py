"""Real processes for end-to-end and fault tests: a private Redis, an SMTP sink
(aiosmtpd) on 127.0.0.1, and the project's own web server, Celery worker and beat,
started as subprocesses against the test database.

Each test gets its own Redis on a free port, so stopping it (a fault test) disturbs
nothing else; the processes read the same settings module production does, pointed
at these services through the environment.
"""

import contextlib
import email
import email.policy
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# What a customer types into /support/ in these tests.
COMPLAINT = {
    "name": "Ann Archer",
    "email": "ann@example.com",
    "kind": "complaint",
    "order_reference": "",
    "message": "The parcel arrived broken.",
    "website": "",
}
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- Redis -----------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of our own that keeps nothing on disk (as on the machines here)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for the end-to-end tests (apt-get install redis-server)"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, 10, "redis-server to start")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


# --- The SMTP sink -------------------------------------------------------------------


@dataclass
class Received:
    message_id: str
    kind: str
    to: str
    subject: str
    text: str
    raw: bytes
    at: float


@dataclass
class SmtpSink:
    """aiosmtpd on 127.0.0.1: every message it accepts is kept, in order. `delay`
    makes it wait that long before answering DATA (a slow mail server)."""

    messages: list[Received] = field(default_factory=list)
    delay: float = 0.0
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # the name aiosmtpd calls
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        with self._lock:
            self.messages.append(
                Received(
                    message_id=str(parsed["Message-ID"]),
                    kind=str(parsed["X-CRM-Kind"]),
                    to=",".join(envelope.rcpt_tos),
                    subject=str(parsed["Subject"]),
                    text=body.get_content() if body else "",
                    raw=raw,
                    at=time.monotonic(),
                )
            )
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        return "250 OK"

    def of_kind(self, kind: str) -> list[Received]:
        with self._lock:
            return [message for message in self.messages if message.kind == kind]

    def start(self) -> Controller:
        self.port = free_port()
        controller = Controller(self, hostname="127.0.0.1", port=self.port)
        controller.start()
        return controller


# --- The project's processes ----------------------------------------------------------


class Stack:
    """gunicorn, Celery worker(s) and beat against the test database, a private Redis and
    the SMTP sink. Logs go to files under `workdir` (shown when a test fails)."""

    def __init__(self, workdir: Path, sink: SmtpSink, redis: PrivateRedis, **settings: str):
        self.workdir = workdir
        self.sink = sink
        self.redis = redis
        self.web_port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        database = connection.settings_dict
        self.env = {
            **{key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_"))},
            "DJANGO_SETTINGS_MODULE": "retention_crm.settings",
            "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
            f"{database['PORT'] or 5432}/{database['NAME']}",
            "CELERY_BROKER_URL": f"{redis.url}/0",
            "REDIS_URL": f"{redis.url}/1",
            "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
            "SITE_URL": f"http://127.0.0.1:{self.web_port}",
            "SWEEP_INTERVAL_SECONDS": "1",
            "OUTBOX_REQUEUE_AFTER_SECONDS": "3",
            "OUTBOX_RETRY_BASE_SECONDS": "1",
            "CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
            **settings,
        }

    def _start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_web(self, workers: int = 2) -> None:
        self._start(
            "web",
            [
                str(BIN / "gunicorn"),
                "retention_crm.wsgi",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                str(workers),
            ],
        )
        wait_for(lambda: self._port_open(self.web_port), 60, "gunicorn to listen")

    def start_worker(self, name: str = "worker", concurrency: int = 2) -> None:
        before = self.log(name).count(" ready.")
        self._start(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "retention_crm",
                "worker",
                "--queues",
                "celery,mail",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--hostname",
                f"{name}-{time.monotonic_ns()}@%h",
                "--without-mingle",
                "--without-gossip",
            ],
        )
        wait_for(lambda: self.log(name).count(" ready.") > before, 90, f"{name} to be ready")

    def start_beat(self) -> None:
        self._start(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "retention_crm",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.workdir / "beat-schedule"),
            ],
        )
        wait_for(lambda: "beat: Starting" in self.log("beat"), 60, "beat to start")

    def restart_exited(self) -> list[str]:
        """Start again the worker and beat if they exited on their own, as the supervisor
        production runs them under would (docs/deployment.md): kombu can make a worker
        exit when Redis goes away at the wrong moment. Returns which were restarted."""
        restarted = []
        for name, start in (("worker", self.start_worker), ("beat", self.start_beat)):
            process = self.processes.get(name)
            if process is not None and process.poll() is not None:
                print(f"{name} had exited with {process.returncode}; restarting it, as a supervisor would")
                start()
                restarted.append(name)
        return restarted

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children (a worker's pool): no chance to clean up."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)

    def stop(self) -> None:
        for name, process in list(self.processes.items()):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(name)
        # PostgreSQL notices closed connections a moment later; the test database is
        # flushed (and at the end dropped) only once they are gone.
        wait_for(self._alone_in_the_database, 15, "the processes' database sessions to end")

    @staticmethod
    def _alone_in_the_database() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return not cursor.fetchall()

    @staticmethod
    def _port_open(port: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def manage(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "python"), "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            timeout=120,
        )


# --- An HTTP client for the live server ----------------------------------------------------


class Browserless:
    """Just enough of a browser: cookies, the CSRF token of a form, and timings."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def post_form(self, path: str, fields: dict) -> tuple[int, str, dict]:
        _status, page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base + path, data=data, headers={"Referer": self.base + path})
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)

    def post_json(self, path: str, body: dict, token: str, headers: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Token {token}", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None

    def http_error_302(self, req, fp, code, msg, headers):
        return fp

    http_error_301 = http_error_303 = http_error_307 = http_error_302
