"""Who may ask where, and which tenant answers: the [tenants] map and per-channel rules.

The tenant comes only from the verified envelope — the installation's ``team_id``, or
its ``enterprise_id`` for an org-wide install — mapped through ``[tenants]``
(``"slack:T0ACME" = "acme"``); a channel rule may name the tenant for its channel. A
workspace the map refuses (``server.tenancy``) is refused before any channel rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from askloop.config.settings import SlackSettings

__all__ = ["Decision", "Refusal", "Rules", "TenantMap", "platform_tenant"]

#: ``ServerRuntime.tenant_for``: (platform, platform tenant id) → askloop tenant, or
#: None when that platform tenant is refused.
TenantMap = Callable[[Literal["slack"], str | None], str | None]


def platform_tenant(
    *, team_id: str | None, enterprise_id: str | None, enterprise_install: bool | None
) -> str | None:
    """The Slack id the [tenants] map is keyed by (without the ``slack:`` prefix)."""
    if enterprise_install and enterprise_id:
        return enterprise_id
    return team_id or enterprise_id


@dataclass(frozen=True, slots=True)
class Decision:
    """Answer, for this tenant, with or without the tuned model."""

    tenant: str
    allow_finetuned: bool


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: Literal["tenant_unmapped", "channel_disabled", "user_not_allowed", "mention_required"]


class Rules:
    def __init__(self, settings: SlackSettings, *, tenant_for: TenantMap) -> None:
        self._settings = settings
        self._tenant_for = tenant_for

    def tenant(
        self, platform_tenant: str | None, *, channel: str = "", direct: bool = False
    ) -> str | None:
        """The askloop tenant of a verified Slack team/org (a channel rule may override);
        None when the workspace is refused."""
        tenant = self._tenant_for("slack", platform_tenant)
        if tenant is None:
            return None
        rule = self._settings.rule_for(channel, direct=direct) if channel else None
        return rule.tenant if rule is not None and rule.tenant else tenant

    def decide(
        self,
        *,
        channel: str,
        direct: bool,
        user: str,
        mentioned: bool,
        platform_tenant: str | None,
    ) -> Decision | Refusal:
        """May ``user`` be answered in ``channel``, and how."""
        tenant = self.tenant(platform_tenant, channel=channel, direct=direct)
        if tenant is None:
            return Refusal("tenant_unmapped")
        rule = self._settings.rule_for(channel, direct=direct)
        if not rule.enabled:
            return Refusal("channel_disabled")
        if rule.users and user not in rule.users:
            return Refusal("user_not_allowed")
        if rule.mention_only and not mentioned and not direct:
            return Refusal("mention_required")
        return Decision(tenant=tenant, allow_finetuned="finetuned" in rule.routes)
