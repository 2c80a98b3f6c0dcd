"""Named, ordered schema migrations of the answer log, recorded in the database itself.

Each migration runs once, in its own transaction, in order; applied names are kept in
``askloop_migrations``. Never edit a released migration: add the next one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MIGRATIONS", "Dialect", "Migration", "POSTGRES", "SQLITE"]


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    timestamp: str
    json: str
    serial_pk: str


SQLITE = Dialect(
    "sqlite", timestamp="TEXT", json="TEXT", serial_pk="INTEGER PRIMARY KEY AUTOINCREMENT"
)
POSTGRES = Dialect(
    "postgresql", timestamp="TIMESTAMPTZ", json="JSONB", serial_pk="BIGSERIAL PRIMARY KEY"
)


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    #: Statements with {timestamp}, {json} and {serial_pk} filled in per dialect.
    statements: tuple[str, ...]

    def render(self, dialect: Dialect) -> list[str]:
        return [
            s.format(timestamp=dialect.timestamp, json=dialect.json, serial_pk=dialect.serial_pk)
            for s in self.statements
        ]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "m001_answers_and_feedback",
        (
            """
            CREATE TABLE answers (
                answer_id       TEXT PRIMARY KEY,
                tenant          TEXT NOT NULL,
                platform        TEXT NOT NULL,
                conversation_id TEXT NOT NULL DEFAULT '',
                channel_id      TEXT NOT NULL DEFAULT '',
                team_id         TEXT NOT NULL DEFAULT '',
                user_hash       TEXT NOT NULL DEFAULT '',
                question        TEXT NOT NULL,
                answer          TEXT NOT NULL,
                route           TEXT NOT NULL CHECK (route IN ('retrieve', 'rewrite', 'finetuned')),
                rewrites        INTEGER NOT NULL DEFAULT 0,
                model           TEXT NOT NULL,
                queries         {json} NOT NULL,
                citations       {json} NOT NULL,
                retrieved       {json} NOT NULL,
                trace           {json} NOT NULL,
                prompt_versions {json} NOT NULL,
                history         {json} NOT NULL,
                withdrawn_at    {timestamp},
                created_at      {timestamp} NOT NULL
            )
            """,
            "CREATE INDEX answers_tenant_created ON answers (tenant, created_at)",
            "CREATE INDEX answers_conversation ON answers (conversation_id)",
            """
            CREATE TABLE feedback_events (
                id          {serial_pk},
                answer_id   TEXT NOT NULL REFERENCES answers (answer_id),
                user_hash   TEXT NOT NULL,
                rating      TEXT CHECK (rating IN ('up', 'down')),
                reason      TEXT NOT NULL DEFAULT '',
                correction  TEXT NOT NULL DEFAULT '',
                source      TEXT NOT NULL,
                created_at  {timestamp} NOT NULL
            )
            """,
            "CREATE INDEX feedback_by_answer ON feedback_events (answer_id, id)",
        ),
    ),
    Migration(
        "m002_answer_error",
        ("ALTER TABLE answers ADD COLUMN error TEXT NOT NULL DEFAULT ''",),
    ),
    Migration(
        "m003_context_and_prompt_texts",
        (
            # Which retrieved chunks were shown as documents [1]..[n], in order.
            "ALTER TABLE answers ADD COLUMN context {json}",
            # The text of every prompt version ever used, so an export reproduces
            # exactly what the model saw even after the prompt files change.
            """
            CREATE TABLE prompt_texts (
                version TEXT PRIMARY KEY,
                name    TEXT NOT NULL,
                text    TEXT NOT NULL
            )
            """,
        ),
    ),
    Migration(
        "m004_deliveries_and_message_links",
        (
            # Platform deliveries already taken (Slack event_id / channel+ts, Teams
            # activity id): shared by every replica, so a retry is answered once.
            """
            CREATE TABLE deliveries (
                key         TEXT PRIMARY KEY,
                claimed_at  {timestamp} NOT NULL
            )
            """,
            "CREATE INDEX deliveries_claimed ON deliveries (claimed_at)",
            # Which platform message carries an answer (role 'answer') or asked it
            # ('question'): a reaction, a feedback invoke or a delete names the message.
            # 'thread' marks a thread askloop answers in (follow-ups need no mention).
            """
            CREATE TABLE answer_messages (
                platform    TEXT NOT NULL,
                message_ref TEXT NOT NULL,
                answer_id   TEXT NOT NULL REFERENCES answers (answer_id),
                role        TEXT NOT NULL CHECK (role IN ('answer', 'question', 'thread')),
                PRIMARY KEY (platform, message_ref)
            )
            """,
            "CREATE INDEX answer_messages_answer ON answer_messages (answer_id)",
        ),
    ),
    Migration(
        "m005_delivery_leases",
        (
            # A claim is a lease (agent.deliveries): 'claimed' until answered or
            # apologised; an expired unfinished one is taken over. Claims made before
            # this migration were permanent: they count as finished.
            "ALTER TABLE deliveries ADD COLUMN state TEXT NOT NULL DEFAULT 'answered' "
            "CHECK (state IN ('claimed', 'answered', 'apologised'))",
            "ALTER TABLE deliveries ADD COLUMN lease_until {timestamp}",
            # Which process holds the lease (host:pid:random).
            "ALTER TABLE deliveries ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE deliveries ADD COLUMN platform TEXT NOT NULL DEFAULT ''",
            # What a taker-over needs to answer (the question and where it was asked);
            # cleared once the claim is finished.
            "ALTER TABLE deliveries ADD COLUMN job {json}",
            "ALTER TABLE deliveries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1",
            "ALTER TABLE deliveries ADD COLUMN finished_at {timestamp}",
            "CREATE INDEX deliveries_unfinished ON deliveries (state, lease_until)",
        ),
    ),
    Migration(
        "m006_feedback_rated_at",
        (
            # When the user rated, by the platform's clock (Slack action_ts/event_ts,
            # the Teams activity timestamp): a user's latest rating is the one with the
            # latest rated_at, not the last one written. Older rows only know when they
            # were stored.
            "ALTER TABLE feedback_events ADD COLUMN rated_at {timestamp}",
            "UPDATE feedback_events SET rated_at = created_at",
        ),
    ),
    Migration(
        "m007_reviews",
        (
            # The review console's actions on answers (agent.answers.Review): append-only
            # events, the latest per answer wins; a gold answer is what exports teach.
            """
            CREATE TABLE reviews (
                id          {serial_pk},
                answer_id   TEXT NOT NULL REFERENCES answers (answer_id),
                action      TEXT NOT NULL
                            CHECK (action IN ('accept', 'edit', 'kb_gap', 'dismiss')),
                gold        TEXT NOT NULL DEFAULT '',
                reviewer    TEXT NOT NULL,
                source      TEXT NOT NULL DEFAULT 'console',
                created_at  {timestamp} NOT NULL
            )
            """,
            "CREATE INDEX reviews_by_answer ON reviews (answer_id, id)",
        ),
    ),
)
