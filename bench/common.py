"""Timing helpers and the results file."""

import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()


def best_of(function: Callable, repeat: int) -> tuple[float, object]:
    """The fastest of `repeat` runs (seconds) and the last result: the fastest run is the
    one least disturbed by the rest of a noisy machine."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def timings(function: Callable, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    times.sort()
    return {
        "min": times[0],
        "median": statistics.median(times),
        "max": times[-1],
        "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
    }


@dataclass
class Report:
    name: str
    lines: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.lines.append(text)

    def figure(self, key: str, value, text: str) -> None:
        self.figures[key] = value
        self.say(text)

    def save(self) -> Path:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.name}.json"
        path.write_text(json.dumps(asdict(self), indent=2, default=str))
        return path
