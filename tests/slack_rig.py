"""``askloop serve`` wired to a :class:`~tests.slack_fake.FakeSlack`, for end-to-end tests.

The server is the real one over loopback HTTP (tests.server_harness); only the Slack
Web API and the models are fakes. ``rig.event(...)`` posts a signed Events API payload,
``rig.interact(...)`` a signed interactivity payload, ``rig.settle()`` waits until the
work acknowledged so far has finished.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from askloop.agent.answers import LoggedAnswer
from askloop.config.settings import Settings, SlackSettings
from askloop.integrations.wiring import Services
from tests.server_harness import RunningServer, fake_services, running_server
from tests.slack_fake import BOT_TOKEN, SIGNING_SECRET, FakeSlack, post_signed

__all__ = ["SlackRig", "slack_rig"]


@dataclass
class SlackRig:
    srv: RunningServer
    fake: FakeSlack
    services: Services

    @property
    def url(self) -> str:
        return self.srv.url + "/slack/events"

    def event(self, payload: dict[str, Any] | str, **kwargs: Any) -> tuple[int, bytes]:
        return post_signed(self.url, payload, **kwargs)

    def interact(self, payload: dict[str, Any], **kwargs: Any) -> tuple[int, bytes]:
        return post_signed(self.url, payload, form=True, **kwargs)

    def settle(self) -> None:
        self.srv.settle()

    def answers(self, tenant: str | None = None) -> list[LoggedAnswer]:
        """Logged answers, newest first."""
        return self.services.answer_log.recent(limit=100, tenant=tenant)

    def answer(self, answer_id: str) -> LoggedAnswer:
        logged = self.services.answer_log.get_answer(answer_id)
        assert logged is not None, answer_id
        return logged

    def answer_for(self, channel: str, ts: str) -> str | None:
        return self.services.answer_log.answer_for_message(
            platform="slack", message_ref=f"{channel}:{ts}"
        )

    def metric(self, name: str, **labels: str) -> float:
        value = self.srv.runtime.metrics.registry.get_sample_value(name, labels)
        return value or 0.0


@contextmanager
def slack_rig(
    tmp_path: Path,
    fake: FakeSlack,
    *,
    tenants: dict[str, str] | None = None,
    default_tenant: str = "default",
    answer: Any = None,
    finetuned: Any = None,
    embedder: Any = None,
    **slack: Any,
) -> Iterator[SlackRig]:
    """A running server whose Slack side talks to ``fake``. ``slack`` overrides
    SlackSettings (defaults: the fake's tokens, fast throttling, no draft delay)."""
    options: dict[str, Any] = {
        "bot_token": BOT_TOKEN,
        "signing_secret": SIGNING_SECRET,
        "api_url": fake.url,
        "post_interval_seconds": 0.06,
        "draft_after_seconds": 0.0,
    }
    options.update(slack)
    settings = Settings(
        home=tmp_path / "home",
        tenants={"slack:T0ACME": "acme"} if tenants is None else tenants,
        default_tenant=default_tenant,
        slack=SlackSettings(**options),
    )
    with (
        fake_services(
            tmp_path, settings, answer=answer, finetuned=finetuned, embedder=embedder
        ) as services,
        running_server(services) as srv,
    ):
        rig = SlackRig(srv=srv, fake=fake, services=services)
        rig.settle()  # start-up work (auth.test)
        yield rig
