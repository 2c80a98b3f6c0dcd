"""Redact people, not documents; RAFT distractors never hold the answer."""

from __future__ import annotations

from askloop.agent.answers import Citation, LoggedAnswer, RetrievedChunk
from askloop.agent.datasets.answer_facts import AnswerGuard
from askloop.agent.datasets.examples import build_example
from askloop.agent.datasets.raft import raft_record
from askloop.agent.redaction import facts_in, redact
from tests.export_fixture import CTX_VERSIONS
from tests.records import answer_record, logged_answer

TOKEN = "xoxb-1234567890-abcdefghij"
JWT = "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0NTY3.SflKxwRJSMeKKF2QT4fw"
BRIDGE = RetrievedChunk(
    chunk_id="c-bridge",
    title="Incidents",
    source="/kb/incidents.md",
    score=0.9,
    text=(
        "Join the incident bridge: call +44 20 7946 0000 and enter PIN 4242#. "
        f"Forward alerts to oncall@corp.example. Bot token: {TOKEN}"
    ),
)
TEMPLATE = "<documents>\n{documents}\n</documents>\n\nQuestion: {question}"


def logged(answer: str, question: str, correction: str = "", **kw) -> LoggedAnswer:
    bridge = {
        "retrieved": (BRIDGE,),
        "context": ("c-bridge",),
        "citations": (Citation(n=1, chunk_id="c-bridge", title="Incidents", source="/kb/x.md"),),
    }
    record = answer_record(
        question=question, answer=answer, prompt_versions=CTX_VERSIONS, **(bridge | kw)
    )
    return logged_answer(record, rating="up" if not correction else "down", correction=correction)


def texts(version: str) -> str:
    return TEMPLATE if version == CTX_VERSIONS["context_message"] else "System."


def test_secrets_go_everywhere_personal_data_only_where_asked():
    text = f"Mail oncall@corp.example or call +44 20 7946 0000; key {JWT} {TOKEN}"
    documents = redact(text, personal=False)
    assert "oncall@corp.example" in documents and "+44 20 7946 0000" in documents
    assert JWT not in documents and TOKEN not in documents
    assert "[JWT]" in documents and "[SLACK_TOKEN]" in documents
    users = redact(text)
    assert "[EMAIL]" in users and "[PHONE]" in users


def test_facts_the_documents_publish_are_kept_in_users_text():
    keep = facts_in(BRIDGE.text)
    assert keep == {"oncall@corp.example", "442079460000"}
    said = "Call +44 (0)20 7946 0000? No: +44 20 7946 0000, or me on +44 7700 900123."
    out = redact(said, keep=keep)
    assert "+44 20 7946 0000" in out and "900123" not in out
    assert redact("Write to ONCALL@corp.example or bob@corp.example", keep=keep) == (
        "Write to ONCALL@corp.example or [EMAIL]"
    )


def test_an_example_keeps_the_documents_answer_and_loses_the_users_details():
    item = logged(
        "Call +44 20 7946 0000 and enter PIN 4242# [1].",
        "I'm bob@corp.example (+44 7700 900123): what is the bridge number?",
    )
    ex = build_example(item, texts)
    user = ex.prompt[-1]["content"]
    assert "call +44 20 7946 0000 and enter PIN 4242#" in user
    assert "oncall@corp.example" in user and TOKEN not in user and "[SLACK_TOKEN]" in user
    assert "bob@corp.example" not in user and "900123" not in user
    assert "[EMAIL]" in user and "[PHONE]" in user
    assert ex.answer == "Call +44 20 7946 0000 and enter PIN 4242# [1]."

    strict = build_example(item, texts, redact_documents=True)
    assert "7946" not in strict.prompt[-1]["content"] and "oncall@" not in str(strict.prompt)
    assert strict.answer == "Call [PHONE] and enter PIN 4242# [1]."


def test_a_correction_is_users_text_but_keeps_document_facts():
    item = logged(
        "Call 555 0100 [1].",
        "Bridge number?",
        correction="It is +44 20 7946 0000 (ask carol@corp.example).",
    )
    ex = build_example(item, texts)
    assert ex.correction == "It is +44 20 7946 0000 (ask [EMAIL])."


def chunk(cid: str, text: str) -> RetrievedChunk:
    return RetrievedChunk(chunk_id=cid, title=cid, source=f"/kb/{cid}.md", score=0.5, text=text)


ORACLE = chunk("refunds", "Refunds. A refund request must be filed within 72 hours of delivery.")
SAME_FACT = chunk("returns", "Returns are accepted within 72 hours, unopened.")
SAME_SENTENCE = chunk("faq", "FAQ: a refund request must be filed within 72  hours of delivery!")
CLEAN = chunk("parking", "Level 2 of the garage is for visitors.")
OTHER_NUMBER = chunk("leave", "Everyone gets 72 days of leave a year... no: 26 days.")


def test_the_guard_knows_the_answer_bearing_sentence_and_key_facts():
    guard = AnswerGuard.of("Within 72 hours [1].", [ORACLE.text])
    assert guard.gives_away(SAME_FACT.text) and guard.gives_away(SAME_SENTENCE.text)
    assert not guard.gives_away(CLEAN.text)
    assert not guard.gives_away(OTHER_NUMBER.text)  # 72 days is another quantity


def test_raft_distractors_never_contain_the_answer():
    item = logged(
        "Within 72 hours [1].",
        "How long do I have to ask for a refund?",
        retrieved=(ORACLE, SAME_FACT, SAME_SENTENCE, CLEAN),
        context=("refunds",),
        citations=(Citation(n=1, chunk_id="refunds", title="r", source="/kb/r.md"),),
    )
    ex = build_example(item, texts)
    asked = []

    def more(tenant, question, exclude, n):
        asked.append((set(exclude), n))
        return [chunk("more-bad", "Claims close after 72 hours."), OTHER_NUMBER][:n]

    rec = raft_record(
        ex, system="S", template=TEMPLATE, k=2, p_oracle=1.0, seed=0, more=more, scrub=True
    )
    user = rec["prompt"][-1]["content"]
    assert user.count("72 hours") == 1  # the oracle's, in no distractor
    assert "garage is for visitors" in user and "26 days" in user
    assert asked and {"refunds", "returns", "faq", "parking"} <= asked[0][0]
