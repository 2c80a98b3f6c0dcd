"""A small hand-made answer log covering every case the exporters must handle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from askloop.agent.answers import AnswerRecord, Citation, Feedback, RetrievedChunk, TraceStep
from askloop.prompts import load_prompt

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
CTX_VERSIONS = {
    "answer_with_context": load_prompt("answer_with_context").version,
    "context_message": load_prompt("context_message").version,
}
DIRECT_VERSIONS = {"answer_direct": load_prompt("answer_direct").version}

LEAVE = RetrievedChunk(
    chunk_id="c-leave",
    title="Annual leave",
    source="/kb/leave.md",
    score=0.9,
    text="Everyone gets 26 days of paid annual leave.",
    heading_path=("People", "Leave"),
)
CARRY = RetrievedChunk(
    chunk_id="c-carry",
    title="Annual leave",
    source="/kb/leave.md",
    score=0.7,
    text="Up to 5 unused days carry over until 31 March.",
    heading_path=("People", "Leave", "Carry-over"),
)
PARKING = RetrievedChunk(
    chunk_id="c-park",
    title="Parking",
    source="/kb/parking.md",
    score=0.3,
    text="Level 2 of the garage is for visitors.",
)


def routed(decision: str, score: float | None) -> tuple[TraceStep, ...]:
    """The route step as the graph records it (no features when the probe failed)."""
    detail: dict = {"reason": "store_unavailable"}
    if score is not None:
        features = {
            "best_cosine": round(score - 0.1, 4),
            "title_match": 0.0,
            "overlap_words": 1.0,
            "question_words": 3.0,
            "score": score,
        }
        detail = {"reason": "…", "features": features, "policy": "probe"}
    return (TraceStep(node="route", verdict=decision, ms=3.0, detail=detail),)


def answer(n: int, question: str, text: str, **kw) -> AnswerRecord:
    base = dict(
        answer_id=f"a{n:02d}",
        tenant="acme",
        platform="slack",
        question=question,
        answer=text,
        route="finetuned",
        model="local:test",
        prompt_versions=DIRECT_VERSIONS,
        conversation_id=f"C1:{n}",
        created_at=T0 + timedelta(minutes=n),
        trace=routed("finetuned", round(0.2 + n / 1000, 4)),
    )
    base.update(kw)
    return AnswerRecord(**base)


def kb_answer(n: int, question: str, text: str, **kw) -> AnswerRecord:
    return answer(
        n,
        question,
        text,
        route="retrieve",
        retrieved=(LEAVE, CARRY, PARKING),
        context=("c-leave", "c-carry"),
        prompt_versions=CTX_VERSIONS,
        citations=(Citation(n=1, chunk_id="c-leave", title="Annual leave", source="/kb/leave.md"),),
        trace=routed("retrieve", 0.9),
        **kw,
    )


def rate(log, answer_id: str, rating, user: str = "u1", **kw) -> None:
    log.add_feedback(Feedback(answer_id=answer_id, user=user, rating=rating, source="button", **kw))


def populate(log) -> None:
    """Fill ``log`` with the fixture answers and ratings."""
    q1 = "How many days of annual leave do I get?"
    log.save_answer(kb_answer(1, q1, "You get 26 days [1].", conversation_id="C1:thread-A"))
    log.save_answer(
        kb_answer(
            2,
            "And can I carry some over?",
            "No [2].",
            conversation_id="C1:thread-A",
            history=(
                {"role": "user", "content": q1},
                {"role": "assistant", "content": "You get 26 days [1]."},
            ),
        )
    )
    log.save_answer(answer(3, "What is the capital of France?", "Paris."))
    # Searched, found nothing good, gave up: the tuned model answered (route finetuned).
    log.save_answer(answer(4, "Who wrote Hamlet?", "Shakespeare.", trace=routed("retrieve", 0.5)))
    log.save_answer(answer(5, "who wrote hamlet", "Marlowe.", conversation_id="C1:other"))
    log.save_answer(answer(6, "What is 2+2?", "5."))
    log.save_answer(answer(7, "Withdrawn question?", "Withdrawn answer."))
    log.save_answer(
        answer(
            8,
            "Store down?",
            "I can't search...",
            error="store_unavailable",
            trace=routed("retrieve", None),
        )
    )
    log.save_answer(
        answer(
            9,
            "Mail me at bob@corp.example, token xoxb-1234567890-abcdefghij",
            "Sure, <@U012AB3CD> will mail bob@corp.example.",
        )
    )
    log.save_answer(
        answer(10, "What is the capital of France?", "Paris.", conversation_id="C1:dup")
    )
    log.save_answer(answer(11, "Unrated question?", "Unrated answer."))
    log.save_answer(answer(12, "Globex question?", "Globex answer.", tenant="globex"))
    for i in range(20, 32):
        log.save_answer(answer(i, f"Filler question number {i}?", f"Filler answer {i}."))
        rate(log, f"a{i:02d}", "up" if i % 3 else "down")

    for i in range(40, 49):
        log.save_answer(answer(i, f"Correctable question {i}?", f"Wrong answer {i}."))
        rate(log, f"a{i:02d}", "down", correction=f"Right answer {i}.")

    rate(log, "a01", "up", "u1")
    rate(log, "a01", "down", "u2", reason="too short")
    rate(log, "a01", "up", "u3")
    rate(log, "a02", "down", reason="wrong", correction="Yes: up to 5 days, until 31 March [2].")
    rate(log, "a03", "up")
    rate(log, "a04", "up")
    rate(log, "a05", "down")
    rate(log, "a06", "down", reason="wrong sum")
    rate(log, "a07", "up")
    log.withdraw("a07")
    rate(log, "a08", "up")
    rate(log, "a09", "up")
    rate(log, "a10", "up")
    rate(log, "a12", "up")
