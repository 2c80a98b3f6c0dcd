"""Slack's form bodies are read by ``shape.parse_form`` (yarl's compiled decoder) exactly
as ``urllib.parse.parse_qs(keep_blank_values=True)`` — what Bolt reads them with."""

from __future__ import annotations

import json
import urllib.parse

from hypothesis import given
from hypothesis import strategies as st

from askloop.integrations.slack.shape import parse_form, shape

# Text made of what form bodies are made of, escapes and separators weighted up.
_pieces = st.sampled_from(["%", "%2", "%22", "%E2%9C%93", "%ff", "%ZZ", "+", "&", "=", ";", "a"])
_form_text = st.lists(st.one_of(_pieces, st.text(max_size=4)), max_size=30).map("".join)


@given(_form_text)
def test_any_text_is_read_as_parse_qs_reads_it(text):
    assert parse_form(text) == urllib.parse.parse_qs(text, keep_blank_values=True)


@given(st.dictionaries(st.text(min_size=1), st.lists(st.text(), min_size=1, max_size=3)))
def test_an_encoded_form_reads_back_as_it_was_written(fields):
    assert parse_form(urllib.parse.urlencode(fields, doseq=True)) == fields


def test_a_click_payload_with_plus_signs_and_emoji_is_decoded_once():
    payload = {"type": "block_actions", "actions": [{"value": "a+b %20 c 👍", "action_ts": "1.2"}]}
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    assert shape(body, "application/x-www-form-urlencoded").payload == payload
