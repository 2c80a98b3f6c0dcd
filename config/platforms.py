"""The settings tables of the chat platforms: ``[slack]`` (with per-channel rules) and
``[teams]``. Read by :mod:`askloop.config.settings`."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from askloop.config.sections import Section, validate_tenant

__all__ = [
    "TEAMS_APP_TYPES",
    "SlackChannelRule",
    "SlackRoute",
    "SlackSettings",
    "TeamsSettings",
    "Unmapped",
]

SlackRoute = Literal["retrieve", "rewrite", "finetuned"]

#: What happens to a platform tenant (Slack workspace or org, Microsoft 365 tenant) that
#: [tenants] does not list: "refuse" it on every path, or answer it from default_tenant.
Unmapped = Literal["refuse", "default"]


class SlackChannelRule(Section):
    """How askloop behaves in one Slack channel, in direct messages ("dm") or in every
    channel without a rule of its own ("*")."""

    #: False: never answer here. ``"*" = {enabled = false}`` turns the listed channels
    #: into an allowlist.
    enabled: bool = True
    #: True: answer only when mentioned, not thread follow-ups without a mention.
    mention_only: bool = False
    #: Slack user ids allowed to ask here; empty = everyone.
    users: tuple[str, ...] = ()
    #: askloop tenant (knowledge-base collection) answering here; unset = the [tenants] map.
    tenant: str | None = None
    #: Routes an answer may take here. Leave out "finetuned" and only the knowledge base
    #: answers (a question it cannot answer gets "not found").
    routes: tuple[SlackRoute, ...] = ("retrieve", "rewrite", "finetuned")

    @field_validator("tenant")
    @classmethod
    def _tenant_ok(cls, v: str | None) -> str | None:
        return None if v is None else validate_tenant(v)

    @field_validator("routes")
    @classmethod
    def _knowledge_base_routes_stay(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not {"retrieve", "rewrite"} <= set(v):
            raise ValueError(
                'routes must keep "retrieve" and "rewrite" (the knowledge base); '
                'leave out "finetuned" to keep the tuned model from answering'
            )
        return v


class SlackSettings(Section):
    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    api_url: str = "https://slack.com/api/"
    #: Ignore messages and mentions posted by other bots and apps (askloop's own always are).
    ignore_bots: bool = True
    #: Seconds between two messages askloop posts or edits in one channel (Slack: ~1/s).
    post_interval_seconds: float = Field(default=1.0, ge=0.0, le=60.0)
    #: An answer still being written after this long is shown as it grows (0 = at once).
    draft_after_seconds: float = Field(default=1.0, ge=0.0, le=600.0)
    #: How a growing answer is shown: "update" posts a draft and edits it (every
    #: workspace); "native" types it into one message with Slack's streaming API
    #: (chat.startStream/appendStream/stopStream), falling back to "update" if refused.
    streaming: Literal["update", "native"] = "update"
    #: Offered when someone opens a new assistant thread with askloop (at most 4 are shown).
    suggested_prompts: tuple[str, ...] = (
        "How many days of annual leave do I get?",
        "How do I file an expense report?",
        "Who do I page when production is down?",
    )
    #: Per-channel rules, keyed by channel id, "dm" (direct messages) or "*" (any other).
    channels: dict[str, SlackChannelRule] = Field(default_factory=dict)
    #: A workspace missing from [tenants]: "refuse" or "default" (answer from
    #: default_tenant). Unset: "refuse" once [tenants] lists any tenant, else "default".
    unmapped: Unmapped | None = None

    @field_validator("suggested_prompts")
    @classmethod
    def _prompts_fit(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) > 4 or any(not p.strip() or len(p) > 150 for p in v):
            raise ValueError("suggested_prompts takes up to 4 non-empty prompts of <= 150 chars")
        return v

    def rule_for(self, channel: str, *, direct: bool) -> SlackChannelRule:
        """The rule of a channel: its own, else "dm" for direct messages, else "*"."""
        rule = self.channels.get(channel) or (self.channels.get("dm") if direct else None)
        return rule or self.channels.get("*") or SlackChannelRule()


TEAMS_APP_TYPES = ("MultiTenant", "SingleTenant", "UserAssignedMSI")


class TeamsSettings(Section):
    #: The Azure Bot's app id; empty turns authentication off (local/emulator use only).
    app_id: str = ""
    app_password: SecretStr | None = None
    #: MultiTenant, SingleTenant (needs app_tenant_id) or UserAssignedMSI (needs app_tenant_id).
    app_type: str = "MultiTenant"
    app_tenant_id: str = ""
    #: Bot Framework OpenID metadata URL (default: the public cloud's); tests serve their own.
    openid_metadata: str | None = None
    #: In channels, answer only messages that @mention askloop.
    mention_required_in_channels: bool = True
    #: A Microsoft 365 tenant missing from [tenants]: "refuse" (replies that askloop is
    #: not set up for it) or "default" (answer from default_tenant). Unset: "refuse"
    #: once [tenants] lists any tenant, else "default". Formerly ``unmapped_tenant``.
    unmapped: Unmapped | None = Field(
        default=None, validation_alias=AliasChoices("unmapped", "unmapped_tenant")
    )
    #: Without an app id, /api/messages serves only the Bot Framework Emulator on
    #: loopback; True opens it to anyone who can reach the port (logged at start-up).
    allow_unauthenticated: bool = False
    #: Stream answers in 1:1 chats (group chats and channels always get one message).
    streaming: bool = True
    #: Seconds between two updates of one streamed answer (Teams: about 1/s per stream).
    stream_interval_seconds: float = Field(default=1.0, ge=0.0, le=10.0)
    #: Messages askloop sends into one conversation per second at most (Teams: about 7).
    max_sends_per_second: int = Field(default=7, ge=1, le=50)
    #: 👍/👎 on an answer opens Teams' own form ("default": a free-text comment) or
    #: askloop's ("custom": what was wrong, and the correct answer for training).
    feedback_form: Literal["default", "custom"] = "default"
    #: Questions the welcome message suggests (at most 3 are shown).
    suggested_prompts: tuple[str, ...] = (
        "How many days of annual leave do I get?",
        "How do I file an expense report?",
        "Who do I page when production is down?",
    )

    @field_validator("app_type")
    @classmethod
    def _known_app_type(cls, v: str) -> str:
        for known in TEAMS_APP_TYPES:
            if v.lower() == known.lower():
                return known
        raise ValueError(f"app_type must be one of {', '.join(TEAMS_APP_TYPES)}")

    @field_validator("suggested_prompts")
    @classmethod
    def _teams_prompts_fit(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not p.strip() or len(p) > 150 for p in v):
            raise ValueError("suggested_prompts takes non-empty prompts of <= 150 chars")
        return v

    @model_validator(mode="after")
    def _tenant_for_single_tenant(self) -> TeamsSettings:
        if self.app_id and self.app_type != "MultiTenant" and not self.app_tenant_id:
            raise ValueError(f"app_type {self.app_type} needs app_tenant_id (MicrosoftAppTenantId)")
        return self
