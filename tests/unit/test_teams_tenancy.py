"""Tenants from channelData.tenant.id only; one name per Teams message."""

from __future__ import annotations

from types import SimpleNamespace

from askloop.config.settings import Settings, TeamsSettings
from askloop.integrations.teams.tenancy import (
    delivery_key,
    message_ref,
    resolve_tenant,
    user_of,
)

GUID = "8f0e0000-0000-0000-0000-000000000000"


def settings(policy: str = "default") -> Settings:
    return Settings(tenants={f"teams:{GUID}": "acme"}, teams=TeamsSettings(unmapped=policy))


def test_a_mapped_tenant_answers_from_its_askloop_tenant():
    decision = resolve_tenant({"tenant": {"id": GUID}}, settings())
    assert (decision.tenant, decision.mapped, decision.platform_tenant) == ("acme", True, GUID)


def test_unmapped_and_missing_tenants_get_the_default_or_are_refused():
    for channel_data in ({"tenant": {"id": "other"}}, {}, None, {"tenant": "x"}):
        assert resolve_tenant(channel_data, settings()).tenant == "default"
        assert resolve_tenant(channel_data, settings("refuse")).tenant is None


def test_only_channel_data_names_the_tenant():
    # conversation.tenantId is not consulted: the helper only ever sees channelData.
    decision = resolve_tenant({"tenant": {"id": "other"}, "tenantId": GUID}, settings("refuse"))
    assert decision.tenant is None


def test_a_message_has_one_name_whatever_thread_form_the_activity_carries():
    channel = "19:aebd0ad4d6ab42c8b9ed19c251c2fc37@thread.skype"
    assert message_ref(f"{channel};messageid=1481567603816", "1481567603999") == (
        message_ref(channel, "1481567603999")
    )
    assert message_ref("a:personal", "1") != message_ref("a:other", "1")


def test_delivery_keys_are_per_conversation_and_bounded():
    assert delivery_key("a:one", "1") != delivery_key("a:two", "1")
    long = delivery_key("a:" + "x" * 900, "1")
    assert long.startswith("teams:sha256:") and len(long) <= 512


def test_the_asker_is_the_entra_object_id_when_known():
    with_aad = SimpleNamespace(from_property=SimpleNamespace(id="29:abc", aad_object_id="oid-1"))
    without = SimpleNamespace(from_property=SimpleNamespace(id="29:abc", aad_object_id=None))
    assert user_of(with_aad) == "oid-1"
    assert user_of(without) == "29:abc"
