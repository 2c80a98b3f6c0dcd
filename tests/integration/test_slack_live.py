"""askloop's Slack Web API wrapper against real Slack (a bot token and a test channel).

What the loopback fake stands in for, checked against the real thing: the token's
identity, posting an answer (Block Kit, in a thread), editing it, and Slack's own error
for a channel that does not exist. The messages are deleted afterwards.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from askloop.config.settings import SlackSettings
from askloop.integrations.slack.render import notice
from askloop.integrations.slack.webapi import OutMessage, SlackApi, SlackCallError
from tests.integration.conftest import LIVE, needs

pytestmark = [pytest.mark.integration, needs("SLACK_BOT_TOKEN", "ASKLOOP_IT_SLACK_CHANNEL")]


@pytest.mark.asyncio
async def test_post_edit_and_a_bad_channel_against_real_slack():
    api = SlackApi(SlackSettings(bot_token=SecretStr(LIVE["SLACK_BOT_TOKEN"])))
    channel = LIVE["ASKLOOP_IT_SLACK_CHANNEL"]
    posted: list[str] = []
    await api.start()
    try:
        me = await api.identity()
        assert me.user_id and me.bot_id
        root = await api.post(channel, OutMessage(text="askloop integration test: a question"))
        posted.append(root)
        reply = await api.post(channel, notice("askloop is thinking…"), thread_ts=root)
        posted.append(reply)
        await api.update(channel, reply, notice("askloop integration test: the answer"))
        history = await api.client.conversations_replies(channel=channel, ts=root)
        texts = [m.get("text", "") for m in history["messages"]]
        assert any("the answer" in t for t in texts)
        with pytest.raises(SlackCallError) as failed:
            await api.post("C00000000", OutMessage(text="nowhere"))
        assert failed.value.error == "channel_not_found"
    finally:
        for ts in reversed(posted):
            await api.client.chat_delete(channel=channel, ts=ts)
        await api.close()
