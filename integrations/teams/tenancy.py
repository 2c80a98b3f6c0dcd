"""Which askloop tenant a Teams activity belongs to, and how its messages are named.

The tenant comes only from ``channelData.tenant.id`` (the Microsoft 365 tenant Teams
stamps on every activity), mapped through ``[tenants]`` as ``"teams:<tenant id>"``;
an unmapped one is refused or answered from the default tenant (``server.tenancy``).
Message references and delivery keys are built here so that the answer path, the
feedback invoke and ``messageDelete`` all name a message the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from askloop.config.settings import Settings
from askloop.integrations.server.tenancy import tenant_of

__all__ = [
    "PLATFORM",
    "TenantDecision",
    "base_conversation_id",
    "delivery_key",
    "message_ref",
    "platform_tenant_of",
    "resolve_tenant",
    "user_of",
]

PLATFORM: Final = "teams"

#: Channel threads are addressed as "<channel id>;messageid=<root message id>".
_THREAD_SUFFIX = ";messageid="
_MAX_KEY = 500


@dataclass(frozen=True, slots=True)
class TenantDecision:
    #: The askloop tenant to answer from, or None when the message must be refused.
    tenant: str | None
    #: ``channelData.tenant.id`` as received ("" when absent).
    platform_tenant: str
    mapped: bool


def platform_tenant_of(channel_data: Any) -> str:
    """``channelData.tenant.id``, or "" (never ``conversation.tenantId``: one source only)."""
    if not isinstance(channel_data, Mapping):
        return ""
    tenant = channel_data.get("tenant")
    value = tenant.get("id") if isinstance(tenant, Mapping) else None
    return value.strip() if isinstance(value, str) else ""


def resolve_tenant(channel_data: Any, settings: Settings) -> TenantDecision:
    """Map the activity's Microsoft 365 tenant to an askloop tenant.

    Unmapped (or absent) tenants are refused (None) once ``[tenants]`` lists any tenant,
    else get ``default_tenant``; ``[teams] unmapped`` says which explicitly.
    """
    platform_tenant = platform_tenant_of(channel_data)
    mapped = bool(platform_tenant) and f"{PLATFORM}:{platform_tenant}" in settings.tenants
    return TenantDecision(tenant_of(settings, PLATFORM, platform_tenant), platform_tenant, mapped)


def base_conversation_id(conversation_id: str) -> str:
    """The conversation without a channel thread's ``;messageid=`` suffix.

    Teams message ids are unique within a chat or channel, so this plus the id names a
    message whichever thread form an activity carries.
    """
    return conversation_id.split(_THREAD_SUFFIX, 1)[0]


def message_ref(conversation_id: str, activity_id: str) -> str:
    """The answer log's ``message_ref`` of one Teams message."""
    return f"{base_conversation_id(conversation_id)}/{activity_id}"


def delivery_key(conversation_id: str, activity_id: str) -> str:
    """The ``claim_delivery`` key of an inbound activity (ids repeat across chats)."""
    key = f"{PLATFORM}:{message_ref(conversation_id, activity_id)}"
    if len(key) <= _MAX_KEY:
        return key
    return f"{PLATFORM}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def user_of(activity: Any) -> str:
    """The asker's stable id: the Entra object id when Teams gives one, else ``from.id``."""
    account = getattr(activity, "from_property", None)
    aad = getattr(account, "aad_object_id", None)
    return str(aad or getattr(account, "id", None) or "")
