"""A real ``askloop serve`` process for fault tests: started, signalled, killed, restarted.

Its Slack is a :class:`~tests.slack_fake.FakeSlack` and its models (chat and
embeddings) a :class:`~tests.openai_fake.FakeOpenAI`, both on loopback; its data lives
in the ``home`` it is given, so a restart on the same home finds what the killed
process left. Its log (stderr) is collected as it is written.
"""

from __future__ import annotations

import atexit
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ASKLOOP
from tests.openai_fake import FakeOpenAI
from tests.serve_process import serve_env
from tests.slack_fake import FakeSlack, post_signed

__all__ = ["Server", "start_server"]

#: What a clean stop must never print.
TEARDOWN_ERRORS = (
    "Traceback",
    "Event loop is closed",
    "cannot schedule new futures",
    "Task was destroyed but it is pending",
)


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    _log: list[str] = field(default_factory=list)

    def event(self, payload: dict[str, Any], **kwargs: Any) -> tuple[int, bytes]:
        return post_signed(self.url + "/slack/events", payload, **kwargs)

    def metric(self, name: str, **labels: str) -> float:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            text = r.read().decode()
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith(f"{name}{{{want}}} ") or line.startswith(f"{name} "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    @property
    def log(self) -> str:
        return "".join(self._log)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)


#: Two replicas started at once on one home must not both copy the knowledge base.
_SEEDING = threading.Lock()


def start_server(
    home: Path,
    slack: FakeSlack,
    model: FakeOpenAI,
    *,
    grace: float = 1.0,
    lease: float = 2.0,
) -> Server:
    """``askloop serve`` on a free loopback port, once it is listening (the first start
    on ``home`` ingests a one-page knowledge base)."""
    config = (
        f"[server]\nshutdown_grace_seconds = {grace}\ndelivery_lease_seconds = {lease}\n"
        '[embedder]\nprovider = "openai"\n'
        "[slack]\npost_interval_seconds = 0.06\n"
    )
    env = serve_env(home, config, slack_api=slack.url, openai_url=model.url)
    env.update(ASKLOOP_ANSWER_MODEL="openai:gpt-x", ASKLOOP_FINETUNED_MODEL="openai:gpt-x")
    with _SEEDING:  # replicas started together share one home: seed it once
        if not (home / "data").exists():
            shutil.copytree(_knowledge_base(env), home / "data")
    proc = subprocess.Popen(
        [ASKLOOP, "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    log: list[str] = []
    threading.Thread(target=_collect, args=(proc.stderr, log), daemon=True).start()
    deadline = time.monotonic() + 240
    line = ""
    while "listening on" not in line:
        line = proc.stdout.readline()
        if not line and (proc.poll() is not None or time.monotonic() > deadline):
            proc.kill()
            raise AssertionError(f"askloop serve did not start:\n{''.join(log)}")
    threading.Thread(target=_collect, args=(proc.stdout, log), daemon=True).start()
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    assert found, line
    return Server(proc=proc, url=found.group(0), _log=log)


_ingested: list[Path] = []


def _knowledge_base(env: dict[str, str]) -> Path:
    """A data dir holding a one-page knowledge base, ingested once per test session
    (the fake's embeddings are a hash of the words: any FakeOpenAI gives the same)."""
    if not _ingested:
        root = Path(tempfile.mkdtemp(prefix="askloop-fault-kb-"))
        atexit.register(shutil.rmtree, root, True)
        (root / "kb").mkdir()
        (root / "kb" / "leave.md").write_text(
            "# Annual leave\n\nEvery employee gets 26 days of paid annual leave per year.\n"
        )
        ingested = subprocess.run(
            [ASKLOOP, "ingest", str(root / "kb")],
            env={**env, "ASKLOOP_HOME": str(root / "data")},
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert ingested.returncode == 0, ingested.stderr
        _ingested.append(root / "data")
    return _ingested[0]


def _collect(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line)
