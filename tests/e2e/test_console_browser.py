"""The review console in a real browser: Playwright driving Debian's chromium.

No browser is downloaded: the tests launch the system executable (``apt-get install
chromium``; ``make test`` installs it when missing). Without it they fail under CI and
are skipped elsewhere. With ``ASKLOOP_SCREENSHOTS=DIR`` each page is saved to DIR (the
README's pictures come from ``ASKLOOP_SCREENSHOTS=docs/console``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pytest

from tests.console_rig import ACME_TOKEN, CORRECTION, HOSTILE, console_server

try:
    from playwright import sync_api
except ImportError:  # pragma: no cover - the dev extra pins it
    if os.environ.get("CI"):
        raise
    sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("ASKLOOP_CHROMIUM") or shutil.which("chromium") or ""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        message = "no chromium: apt-get install -y chromium (make test installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    yield page
    context.close()
    assert errors == []  # no script error, no alert()


def snap(page, name: str) -> None:
    folder = os.environ.get("ASKLOOP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)


def test_queue_shows_a_thumbs_down_and_accepting_its_correction_changes_the_next_export(
    page, tmp_path
):
    with console_server(tmp_path) as server:
        page.goto(server.url + "/console/")
        card = page.locator("article#a-a01")
        assert "👎" in card.locator(".badge.down").inner_text()
        assert card.locator(".correction").inner_text() == CORRECTION
        assert card.locator(".reason").inner_text() == "outdated since January"
        snap(page, "queue")
        # A later 👎 from someone else brings a different raw correction...
        page.locator("article#a-a01 button.accept").click()
        assert page.locator(".saved").inner_text() == "Saved: accept:a01"
        assert page.locator("article#a-a01").count() == 0

        from tests.export_fixture import rate

        rate(server.runtime.services.answer_log, "a01", "down", user="u9", correction="30.")
        # ...but the accepted gold answer is what the export teaches.
        page.goto(server.url + "/console/export")
        page.select_option("select[name=format]", "trl-sft")
        page.select_option("select[name=tenant]", "acme")
        snap(page, "export")
        with page.expect_download() as download:
            page.click("form.export button[type=submit]")
        path = download.value.path()
        lines = [orjson.loads(line) for line in Path(path).read_bytes().splitlines()]
        taught = [rec["completion"][-1]["content"] for rec in lines]
        assert CORRECTION in taught and "30." not in taught


def test_answers_filters_and_detail_page(page, tmp_path):
    with console_server(tmp_path) as server:
        page.goto(server.url + "/console/answers")
        assert page.locator("tbody tr[data-answer]").count() == 5
        page.select_option("select[name=platform]", "teams")
        page.click("#filters button[type=submit]")
        assert page.locator("tbody tr[data-answer]").count() == 1
        assert "platform=teams" in page.url
        page.select_option("select[name=platform]", "")
        page.select_option("select[name=rating]", "down")
        page.select_option("select[name=tenant]", "acme")
        page.click("#filters button[type=submit]")
        rows = page.locator("tbody tr[data-answer]")
        assert [rows.nth(i).get_attribute("data-answer") for i in range(rows.count())] == ["a01"]
        snap(page, "answers")
        rows.first.locator("a").click()
        assert page.locator("h3.question").inner_text() == "How many days of annual leave do I get?"
        assert page.locator("table.trace tr").count() >= 2
        assert page.locator(".chunks li.cited").count() == 1
        snap(page, "answer")


def test_hostile_text_renders_inert(page, tmp_path):
    with console_server(tmp_path) as server:
        for path in ("/console/", "/console/answers", "/console/answers/a02", "/console/insights"):
            page.goto(server.url + path)
            assert page.evaluate("document.body.dataset.pwned") is None, path
            assert page.locator("img[src=x]").count() == 0, path
        page.goto(server.url + "/console/answers/a02")
        assert page.locator("h3.question").inner_text() == HOSTILE


def test_without_a_token_only_this_machine_and_with_one_a_signed_in_tenant(page, tmp_path):
    with console_server(tmp_path, tokens=True) as server:
        response = page.goto(server.url + "/console/")
        assert response.status == 401
        snap(page, "sign-in")
        page.fill("input[name=token]", ACME_TOKEN)
        page.click("form.signin button")
        assert page.url == server.url + "/console/"  # the token left the address
        cookie = next(c for c in page.context.cookies() if c["name"] == "askloop_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert "acme-lead · tenant acme" in page.locator("header .who").inner_text()
        assert page.locator("article#a-a01").count() == 1
        assert page.locator("text=Globex").count() == 0
        # A forged page cannot post: no CSRF token, and the cookie stays behind.
        assert page.evaluate("document.cookie") == ""
        page.goto(server.url + "/console/answers/a05")
        assert page.locator("h1").inner_text() == "That did not work"


def test_insights_and_the_ask_playground(page, tmp_path):
    with console_server(tmp_path) as server:
        page.goto(server.url + "/console/insights")
        assert page.locator("svg.chart").count() == 3
        assert page.locator("table.downs td").first.inner_text() == "Globex travel policy?"
        snap(page, "insights")
        page.goto(server.url + "/console/ask")
        page.select_option("select[name=tenant]", "acme")
        page.fill("textarea[name=question]", "How many days of annual leave?")
        page.click("form#ask button[type=submit]")
        page.wait_for_selector("#rating:not([hidden])")
        assert page.locator("#answer").inner_text() == "Every employee gets 26 days [1]."
        page.click("#rating button[data-rating=up]")
        page.wait_for_selector("text=Saved 👍")
        snap(page, "ask")
        rated = server.runtime.services.answer_log.find_answers
        from askloop.integrations.answer_log.reviews import AnswerQuery

        (logged,) = rated(AnswerQuery(platform="console"))
        assert logged.rating == "up"
