"""Which askloop tenant a verified platform tenant belongs to, or none: refused.

One rule for Slack and Teams alike. ``[tenants]`` maps ``"platform:id"`` to an askloop
tenant. A platform tenant it does not list is refused once the map lists any tenant
(a multi-tenant install answers only those it knows), or answered from
``default_tenant`` when there is no map (a single-tenant install); ``[slack] unmapped``
and ``[teams] unmapped`` say "refuse" or "default" explicitly.
"""

from __future__ import annotations

from typing import Literal

from askloop.config.settings import Settings, Unmapped

__all__ = ["Platform", "tenant_of", "unmapped_policy"]

Platform = Literal["slack", "teams"]


def unmapped_policy(settings: Settings, platform: Platform) -> Unmapped:
    """What happens to ``platform``'s tenants missing from ``[tenants]``."""
    explicit = settings.slack.unmapped if platform == "slack" else settings.teams.unmapped
    if explicit is not None:
        return explicit
    return "refuse" if settings.tenants else "default"


def tenant_of(settings: Settings, platform: Platform, platform_tenant: str | None) -> str | None:
    """The askloop tenant of a verified platform tenant id; None when it is refused.

    An absent id ("" or None) is an unmapped one.
    """
    if platform_tenant:
        mapped = settings.tenants.get(f"{platform}:{platform_tenant}")
        if mapped is not None:
            return mapped
    return settings.default_tenant if unmapped_policy(settings, platform) == "default" else None
