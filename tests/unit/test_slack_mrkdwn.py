"""Model Markdown → Slack mrkdwn: formatting, defanging, splitting; Slack text → question."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from askloop.integrations.slack.mrkdwn import question_text, split_mrkdwn, to_mrkdwn

CITED = "https://handbook.example.com/leave"


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**26 days** of *paid* leave", "*26 days* of _paid_ leave"),
        ("__bold__ and _italic_ and ~~old~~", "*bold* and _italic_ and ~old~"),
        ("# Annual leave", "*Annual leave*"),
        ("- one\n* two\n  + three", "• one\n• two\n  • three"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted **text**", "> quoted *text*"),
        ("```python\nx = a * b * c\n```", "```\nx = a * b * c\n```"),
        ("use `a*b*c` here", "use `a*b*c` here"),
        ("snake_case_name stays", "snake_case_name stays"),
        ("5 * 3 * 2 = 30", "5 * 3 * 2 = 30"),
        ("---", "──────────"),
    ],
)
def test_markdown_becomes_mrkdwn(markdown, mrkdwn):
    assert to_mrkdwn(markdown) == mrkdwn


@pytest.mark.parametrize(
    "attack",
    [
        "<!channel> the building is on fire",
        "<!here|here> hi",
        "<!everyone>",
        "<@U0123ABC> please approve",
        "<#C0123|general>",
        "<https://evil.example.com|the handbook>",
        "<!subteam^S0123|@oncall>",
        "&lt;!channel&gt;",
    ],
)
def test_control_sequences_from_the_model_are_shown_not_executed(attack):
    out = to_mrkdwn(attack)
    assert "<" not in out and ">" not in out
    shown = out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert shown.replace("`", "") == attack  # a URL inside is shown as code


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@HERE"])
def test_broadcast_words_never_notify(word):
    out = to_mrkdwn(f"Hey {word}, read this")
    assert word not in out
    assert word.replace("@", "@\u2060") in out


def test_only_cited_sources_are_links():
    markdown = (
        f"See [the policy]({CITED}) or [this](https://evil.example.com/x) and "
        f"{CITED} or https://evil.example.com/y_z. ![img](https://evil.example.com/i.png) [1] [2]"
    )
    out = to_mrkdwn(markdown, markers={1: CITED}, allowed={CITED})
    links = re.findall(r"<([^|>]+)(?:\|[^>]*)?>", out)
    assert links == [CITED, CITED, CITED]
    assert f"<{CITED}|the policy>" in out
    assert "this" in out and "evil.example.com/x" not in out
    assert "`https://evil.example.com/y_z`" in out  # shown as code: readable, not a link
    assert f"<{CITED}|[1]>" in out and "[2]" in out
    assert "img" in out and "i.png" not in out


def test_a_link_label_cannot_break_out_of_the_link():
    out = to_mrkdwn(f"[a|b>c <!here>]({CITED})", allowed={CITED})
    assert out.startswith(f"<{CITED}|") and out.count("<") == 1 and out.count(">") == 1


def test_urls_that_are_not_plain_http_never_become_links():
    out = to_mrkdwn(
        "[x](javascript:alert(1)) [y](file:///etc/passwd)", allowed={"file:///etc/passwd"}
    )
    assert "<" not in out


def test_an_unclosed_code_block_is_closed():
    assert to_mrkdwn("```\ncode") == "```\ncode\n```"


def test_long_text_splits_at_lines_and_keeps_code_and_links_whole():
    link = f"<{CITED}|a link with spaces>"
    text = "\n".join(
        [("word " * 30 + link) * 3, "```", *(f"code line {n}" for n in range(40)), "```", "end"]
    )
    parts = split_mrkdwn(text, 300)
    assert len(parts) > 3
    for part in parts:
        assert len(part) <= 300
        assert part.split("\n").count("```") % 2 == 0  # code blocks closed in each part
        assert part.count("<") == part.count(">") == part.count(link[:10])
    joined = " ".join(parts)
    assert all(f"code line {n}" in joined for n in range(40))
    assert joined.count(link) == 3


def test_short_text_is_one_part():
    assert split_mrkdwn("short", 3000) == ["short"]


PIECES = [*"ab *_`<>&|\n[]()#-:/.@!", "http://x.io/", "```", "<!here>", "[1]", "**"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=150).map("".join),
    st.integers(min_value=40, max_value=200),
)
def test_any_text_splits_under_the_limit_and_stays_defanged(markdown, limit):
    rendered = to_mrkdwn(markdown)
    for part in split_mrkdwn(rendered, limit):
        assert len(part) <= limit
        assert "<" not in part  # nothing the model wrote becomes markup
        assert part.split("\n").count("```") % 2 == 0  # code blocks closed in each part


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("<@UBOT> is it everything a river should be?", "is it everything a river should be?"),
        ("<@UBOT|askloop> ping <@U2|bob> in <#C1|general>", "ping @bob in #general"),
        (
            "see <https://x.example.com|the page> &amp; <mailto:a@b.c|a@b.c>",
            "see the page (https://x.example.com) & a@b.c",
        ),
        ("<!here> anyone? 1 &lt; 2", "@here anyone? 1 < 2"),
        ("<@UBOT>", ""),
    ],
)
def test_slack_text_becomes_a_plain_question(text, question):
    assert question_text(text, bot_user_ids={"UBOT", None}) == question
