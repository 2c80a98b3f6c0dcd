"""The review console over real HTTP: who gets in, CSRF, escaping, tenants, actions,
filters, export and the playground (the browser tests cover what needs a page)."""

from __future__ import annotations

import re
from unittest import mock

import orjson
import pytest
import requests
from aiohttp.test_utils import make_mocked_request

from askloop.config.sections import ConsoleSettings
from askloop.integrations.console.access import Access, Refusal
from tests.console_rig import (
    ACME_TOKEN,
    ADMIN_TOKEN,
    CORRECTION,
    console_server,
)


@pytest.fixture
def local(tmp_path):
    with console_server(tmp_path) as server:
        yield server


@pytest.fixture
def guarded(tmp_path):
    with console_server(tmp_path, tokens=True) as server:
        yield server


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def answer_log(server):
    return server.runtime.services.answer_log


# -- the door ------------------------------------------------------------------------------


def test_this_machine_gets_in_without_a_token_and_sees_the_queue_first(local):
    r = requests.get(local.url + "/console/", timeout=10)
    assert r.status_code == 200
    assert "Review queue" in r.text and CORRECTION in r.text
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert requests.get(local.url + "/console", timeout=10).url.endswith("/console/")


@pytest.mark.parametrize(
    "headers",
    [{"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}, {"Via": "1.1 proxy"}],
)
def test_anything_behind_a_proxy_counts_as_public_without_a_token(local, headers):
    r = requests.get(local.url + "/console/", headers=headers, timeout=10)
    assert r.status_code == 403
    assert CORRECTION not in r.text


def test_a_page_on_another_site_rebinding_its_name_to_loopback_is_refused(local):
    r = requests.get(local.url + "/console/", headers={"Host": "evil.example:3000"}, timeout=10)
    assert r.status_code == 403


def test_a_peer_that_is_not_loopback_is_refused_without_a_token():
    request = make_mocked_request("GET", "/console/", headers={"Host": "127.0.0.1:3000"})
    transport = mock.Mock()
    transport.get_extra_info.return_value = ("192.0.2.7", 50000)
    request = request.clone()
    with mock.patch.object(type(request), "transport", new=transport):
        with pytest.raises(Refusal) as refused:
            Access(ConsoleSettings()).identify(request)
    assert refused.value.status == 403


def test_with_a_token_set_every_request_signs_in_even_from_this_machine(guarded):
    r = requests.get(guarded.url + "/console/", timeout=10, allow_redirects=False)
    assert r.status_code == 401 and "Sign in" in r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.get(guarded.url + "/console/?token=wrong-token-0000000000", timeout=10)
    assert r.status_code == 403 and CORRECTION not in r.text


def test_signing_in_with_the_token_sets_an_httponly_samesite_cookie_and_drops_the_token(guarded):
    session = requests.Session()
    r = session.get(
        guarded.url + f"/console/answers?route=retrieve&token={ADMIN_TOKEN}",
        timeout=10,
        allow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["Location"] == "/console/answers?route=retrieve"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and ADMIN_TOKEN not in cookie
    assert session.get(guarded.url + "/console/", timeout=10).status_code == 200
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert requests.get(guarded.url + "/console/", headers=bearer, timeout=10).status_code == 200


# -- CSRF and escaping ---------------------------------------------------------------------


def test_a_review_without_the_csrf_token_or_from_another_site_is_refused(local):
    url = local.url + "/console/answers/a01/review"
    assert requests.post(url, data={"action": "dismiss"}, timeout=10).status_code == 403
    csrf = csrf_of(requests.get(local.url + "/console/", timeout=10).text)
    wrong = {"Origin": "http://evil.example"}
    r = requests.post(url, data={"action": "dismiss", "csrf": csrf}, headers=wrong, timeout=10)
    assert r.status_code == 403
    assert answer_log(local).reviews_of("a01") == []


def test_logged_markup_renders_as_text(local):
    for path in ("/console/", "/console/answers", "/console/answers/a02", "/console/insights"):
        html = requests.get(local.url + path, timeout=10).text
        assert "<img src=x" not in html and "<script>document" not in html, path
    html = requests.get(local.url + "/console/", timeout=10).text
    assert "Leave &lt;img src=x onerror=&#34;document.body.dataset.pwned=1&#34;&gt;" in html


# -- reviews -------------------------------------------------------------------------------


def test_accepting_a_correction_stores_a_console_event_before_saying_saved(local):
    csrf = csrf_of(requests.get(local.url + "/console/", timeout=10).text)
    r = requests.post(
        local.url + "/console/answers/a01/review",
        data={"action": "accept", "csrf": csrf, "next": "/console/"},
        timeout=10,
        allow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["Location"] == "/console/?saved=accept:a01"
    (event,) = answer_log(local).reviews_of("a01")
    assert (event.action, event.reviewer, event.source, event.gold) == (
        "accept",
        "local",
        "console",
        CORRECTION,
    )
    page = requests.get(local.url + r.headers["Location"], timeout=10).text
    assert "Saved: accept:a01" in page
    assert 'id="a-a01"' not in page  # off the queue until new feedback


def test_an_edited_gold_answer_is_what_the_next_export_teaches(local):
    def export() -> list[dict]:
        csrf = csrf_of(requests.get(local.url + "/console/export", timeout=10).text)
        r = requests.post(
            local.url + "/console/export",
            data={"csrf": csrf, "format": "trl-sft", "tenant": "acme"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert r.headers["Content-Disposition"].startswith('attachment; filename="trl-sft.acme.')
        return [orjson.loads(line) for line in r.content.splitlines()]

    targets = [rec["completion"][-1]["content"] for rec in export()]
    assert CORRECTION in targets
    csrf = csrf_of(requests.get(local.url + "/console/", timeout=10).text)
    gold = "Everyone gets 30 days of paid leave from 2027."
    r = requests.post(
        local.url + "/console/answers/a01/review",
        data={"action": "edit", "gold": gold, "csrf": csrf},
        timeout=10,
    )
    assert r.status_code == 200
    targets = [rec["completion"][-1]["content"] for rec in export()]
    assert gold in targets and CORRECTION not in targets


def test_export_refuses_below_the_formats_minimum_like_the_cli(local):
    csrf = csrf_of(requests.get(local.url + "/console/export", timeout=10).text)
    r = requests.post(
        local.url + "/console/export",
        data={"csrf": csrf, "format": "openai-sft", "tenant": "acme"},
        timeout=30,
    )
    assert r.status_code == 422
    assert "openai-sft needs at least 10" in r.text
    r = requests.post(
        local.url + "/console/export",
        data={"csrf": csrf, "format": "nope", "tenant": "acme"},
        timeout=30,
    )
    assert r.status_code == 400


# -- tenants -------------------------------------------------------------------------------


def test_a_tenant_scoped_token_sees_and_changes_only_its_tenant(guarded):
    acme = requests.Session()
    acme.headers["Authorization"] = f"Bearer {ACME_TOKEN}"
    queue = acme.get(guarded.url + "/console/?tenant=globex", timeout=10).text
    assert "How many days of annual leave" in queue and "Globex" not in queue
    everything = acme.get(guarded.url + "/console/answers?q=globex", timeout=10).text
    assert "Globex travel" not in everything
    assert acme.get(guarded.url + "/console/answers/a05", timeout=10).status_code == 404
    csrf = csrf_of(queue)
    r = acme.post(
        guarded.url + "/console/answers/a05/review",
        data={"action": "dismiss", "csrf": csrf},
        timeout=10,
    )
    assert r.status_code == 404
    assert answer_log(guarded).reviews_of("a05") == []
    r = acme.post(
        guarded.url + "/console/answers/a01/review",
        data={"action": "kb_gap", "csrf": csrf},
        timeout=10,
    )
    assert r.status_code == 200
    assert [(e.action, e.reviewer) for e in answer_log(guarded).reviews_of("a01")] == [
        ("kb_gap", "acme-lead")
    ]
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert "Globex travel" in requests.get(guarded.url + "/console/", headers=admin).text


# -- answers, insights, ask ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("route=finetuned", ["a02", "a04"], ["a01", "a03"]),
        ("rating=up", ["a03"], ["a01", "a02"]),
        ("rating=down&tenant=acme", ["a01"], ["a03", "a05"]),
        ("platform=teams", ["a03"], ["a01"]),
        ("channel=C0GENERAL", ["a01"], ["a03"]),
        ("q=carry+LEAVE", ["a03"], ["a01"]),
        ("tenant=globex", ["a05"], ["a01"]),
    ],
)
def test_answers_filter(local, query, shown, hidden):
    html = requests.get(local.url + f"/console/answers?{query}", timeout=10).text
    rows = set(re.findall(r'<tr data-answer="(\w+)"', html))
    assert set(shown) <= rows and not set(hidden) & rows


def test_a_bad_filter_is_a_clear_400(local):
    r = requests.get(local.url + "/console/answers?since=yesterday", timeout=10)
    assert r.status_code == 400 and "since must be a date" in r.text


def test_insights_draw_server_side_charts(local):
    html = requests.get(local.url + "/console/insights", timeout=10).text
    assert html.count("<svg") == 3
    assert "50% of 2" in html  # 👍 rate of the acme retrieve route: 1 up, 1 down
    assert "Globex travel policy?" in html  # most 👎 questions, every tenant


def test_the_playground_streams_an_answer_and_takes_a_rating(local):
    csrf = csrf_of(requests.get(local.url + "/console/export", timeout=10).text)
    headers = {"X-CSRF-Token": csrf}
    r = requests.post(
        local.url + "/console/ask",
        json={"question": "How many days of annual leave?", "tenant": "acme"},
        headers=headers,
        timeout=60,
    )
    events = [orjson.loads(line) for line in r.content.splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "status" and "text" in kinds and kinds[-1] == "done"
    done = events[-1]
    assert done["text"] == "Every employee gets 26 days [1]."
    r = requests.post(
        local.url + "/console/rate",
        json={"answer_id": done["answer_id"], "rating": "up"},
        headers=headers,
        timeout=10,
    )
    assert r.json() == {"saved": True, "rating": "up"}
    logged = answer_log(local).get_answer(done["answer_id"])
    assert (logged.record.platform, logged.rating) == ("console", "up")
    no_csrf = requests.post(local.url + "/console/rate", json={"answer_id": "x", "rating": "up"})
    assert no_csrf.status_code == 403


def test_behind_a_proxy_a_signed_in_form_posts_from_the_forwarded_origin(guarded):
    proxy = {
        "Authorization": f"Bearer {ADMIN_TOKEN}",
        "X-Forwarded-Host": "askloop.example",
        "X-Forwarded-Proto": "https",
    }
    csrf = csrf_of(requests.get(guarded.url + "/console/", headers=proxy, timeout=10).text)
    url = guarded.url + "/console/answers/a04/review"
    form = {"action": "dismiss", "csrf": csrf}
    evil = {**proxy, "Origin": "https://evil.example"}
    assert requests.post(url, data=form, headers=evil, timeout=10).status_code == 403
    ours = {**proxy, "Origin": "https://askloop.example"}
    assert requests.post(url, data=form, headers=ours, timeout=10).status_code == 200
    assert [e.reviewer for e in answer_log(guarded).reviews_of("a04")] == ["admin"]
    signed = requests.get(
        guarded.url + f"/console/?token={ADMIN_TOKEN}", headers=proxy, allow_redirects=False
    )
    assert "Secure" in signed.headers["Set-Cookie"]


def test_the_console_reviews_and_exports_on_postgresql(tmp_path):
    from askloop.integrations.answer_log.sql_log import SqlAnswerLog
    from tests.pg_database import own_database

    with (
        own_database("askloop_console") as db,
        console_server(tmp_path, answer_log=SqlAnswerLog.postgres(db.url)) as server,
    ):
        html = requests.get(server.url + "/console/?tenant=acme", timeout=10).text
        assert re.findall(r'<article class="answer" id="a-(\w+)"', html) == ["a01", "a02"]
        r = requests.post(
            server.url + "/console/answers/a01/review",
            data={"action": "edit", "gold": "Thirty days.", "csrf": csrf_of(html)},
            timeout=10,
        )
        assert r.status_code == 200 and "Saved: edit:a01" in r.text
        r = requests.post(
            server.url + "/console/export",
            data={"csrf": csrf_of(html), "format": "trl-sft", "tenant": "acme"},
            timeout=30,
        )
        taught = [
            orjson.loads(line)["completion"][-1]["content"] for line in r.content.splitlines()
        ]
        assert "Thirty days." in taught
        insights = requests.get(server.url + "/console/insights", timeout=10).text
        assert insights.count("<svg") == 3


def test_bad_requests_get_a_clear_status_and_a_log_line(local, caplog):
    caplog.set_level("INFO", logger="askloop.integrations.console")
    csrf = csrf_of(requests.get(local.url + "/console/export", timeout=10).text)
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    r = requests.post(local.url + "/console/ask", data="{not json", headers=headers, timeout=10)
    assert r.status_code == 400 and "not JSON" in r.text
    r = requests.post(
        local.url + "/console/rate", json={"answer_id": "nope", "rating": "up"}, headers=headers
    )
    assert r.status_code == 404
    r = requests.post(
        local.url + "/console/answers/a01/review",
        data={"action": "delete", "csrf": csrf},
        timeout=10,
    )
    assert r.status_code == 400 and "unknown review action" in r.text
    r = requests.post(
        local.url + "/console/answers/a02/review",
        data={"action": "accept", "csrf": csrf},
        timeout=10,
    )
    assert r.status_code == 400 and "no correction to accept" in r.text
    assert answer_log(local).reviews_of("a01") == answer_log(local).reviews_of("a02") == []
    assert "bad input: the request body is not JSON" in caplog.text


def test_a_long_list_offers_more(local):
    html = requests.get(local.url + "/console/answers?limit=2&route=finetuned", timeout=10).text
    assert len(re.findall(r'<tr data-answer="', html)) == 2
    more = re.search(r'class="more" href="([^"]+)"', html).group(1)
    assert more == "/console/answers?route=finetuned&amp;limit=4"
    html = requests.get(local.url + more.replace("&amp;", "&"), timeout=10).text
    assert len(re.findall(r'<tr data-answer="', html)) == 3 and 'class="more"' not in html
    queue = requests.get(local.url + "/console/?limit=1", timeout=10).text
    assert queue.count('<article class="answer"') == 1 and 'class="more"' in queue
    assert requests.get(local.url + "/console/?limit=0", timeout=10).status_code == 400
