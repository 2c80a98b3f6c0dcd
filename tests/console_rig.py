"""The review console on a real ``askloop serve`` over loopback, with a seeded log.

Shared by the HTTP tests (tests/e2e/test_console.py) and the browser tests
(tests/e2e/test_console_browser.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from askloop.agent.answers import TraceStep
from askloop.config.settings import ConsoleSettings, ConsoleToken, Settings
from tests.export_fixture import answer, kb_answer, rate
from tests.server_harness import RunningServer, fake_services, running_server

ADMIN_TOKEN = "admin-token-0123456789"
ACME_TOKEN = "acme-token-0123456789ab"
#: A question carrying markup: it must render as text, never run.
HOSTILE = 'Leave <img src=x onerror="document.body.dataset.pwned=1"> policy?'
HOSTILE_ANSWER = "<script>document.body.dataset.pwned=2</script>It depends."
CORRECTION = "Everyone gets 28 days of paid leave."
GAVE_UP = (
    TraceStep(node="route", verdict="retrieve", ms=2.0, detail={"reason": "probe"}),
    TraceStep(node="grade", verdict="poor", ms=1.0, detail={"reason": "no shared terms"}),
    TraceStep(node="give_up", verdict="not_found", ms=0.5, detail={"reason": "rewrites_exhausted"}),
)


def seed(log) -> None:
    """acme: a 👎 with a correction (a1), an unrated weak-evidence answer with hostile
    text (a2), a 👍 in a Teams channel (a3), a plain unrated one (a4); globex: a 👎 (a5)."""
    now = datetime.now(UTC).replace(microsecond=0)
    log.save_answer(
        kb_answer(
            1,
            "How many days of annual leave do I get?",
            "You get 26 days [1].",
            created_at=now - timedelta(hours=3),
            channel_id="C0GENERAL",
        )
    )
    rate(log, "a01", "down", reason="outdated since January", correction=CORRECTION)
    log.save_answer(
        answer(2, HOSTILE, HOSTILE_ANSWER, trace=GAVE_UP, created_at=now - timedelta(hours=2))
    )
    log.save_answer(
        kb_answer(
            3,
            "Can I carry leave over?",
            "Up to 5 days [1].",
            platform="teams",
            channel_id="19:general",
            created_at=now - timedelta(days=2),
        )
    )
    rate(log, "a03", "up")
    log.save_answer(answer(4, "What is 2+2?", "4.", created_at=now - timedelta(days=1)))
    log.save_answer(
        answer(
            5,
            "Globex travel policy?",
            "Fly economy.",
            tenant="globex",
            created_at=now - timedelta(hours=1),
        )
    )
    rate(log, "a05", "down", correction="Globex flies business.")


def console_settings(tmp_path: Path, *, tokens: bool) -> Settings:
    console = ConsoleSettings()
    if tokens:
        console = ConsoleSettings(
            token=ADMIN_TOKEN,
            tokens=(ConsoleToken(name="acme-lead", token=ACME_TOKEN, tenant="acme"),),
        )
    return Settings(home=tmp_path / "home", console=console)


@contextmanager
def console_server(
    tmp_path: Path, *, tokens: bool = False, answer_log: Any = None
) -> Iterator[RunningServer]:
    """The server with the seeded log (SQLite in ``tmp_path``, or ``answer_log``)."""
    settings = console_settings(tmp_path, tokens=tokens)
    with (
        fake_services(tmp_path, settings, answer_log=answer_log) as services,
        running_server(services) as server,
    ):
        seed(services.answer_log)
        yield server
