"""askloop's Bot Framework credentials against the real Azure AD (an app id and secret).

The outbound half of Teams authentication that tests stub (``auth.acquire_token``):
the credentials askloop builds from its settings get a Bot Connector token from Azure
AD, issued to this app for the Bot Framework audience.
"""

from __future__ import annotations

import jwt
import pytest
from botframework.connector.auth import AuthenticationConstants
from pydantic import SecretStr

from askloop.config.settings import TeamsSettings
from askloop.integrations.teams import auth
from tests.integration.conftest import LIVE, needs

pytestmark = [pytest.mark.integration, needs("MicrosoftAppId", "MicrosoftAppPassword")]


@pytest.mark.asyncio
async def test_the_apps_credentials_get_a_bot_connector_token():
    settings = TeamsSettings(
        app_id=LIVE["MicrosoftAppId"],
        app_password=SecretStr(LIVE["MicrosoftAppPassword"]),
        app_type=LIVE.get("MicrosoftAppType", "MultiTenant"),
        app_tenant_id=LIVE.get("MicrosoftAppTenantId", ""),
    )
    constants = AuthenticationConstants
    credentials = await auth._credentials_factory(settings).create_credentials(
        settings.app_id,
        constants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
        constants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX,
        True,
    )
    token = auth.acquire_token(credentials)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == constants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
    assert settings.app_id in (claims.get("appid"), claims.get("azp"))
