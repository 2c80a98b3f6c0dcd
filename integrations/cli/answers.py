"""``askloop ask | route | rate | log | forget``: the Assistant from the command line."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import timedelta
from typing import Any

from askloop.agent.answers import AnswerRecord, LoggedAnswer, Turn
from askloop.agent.errors import InvalidInputError
from askloop.agent.sources import shown_sources
from askloop.config.sections import ServerSettings
from askloop.integrations.cli import say
from askloop.integrations.cli.args import TENANT_HELP, setting_default, whole_number
from askloop.integrations.cli.terminal import Terminal, prepare_embedder, prepare_models

__all__ = ["add_parsers", "run"]

ROUTE_TEXT = {
    "retrieve": "from the knowledge base",
    "rewrite": "from the knowledge base, after rewriting the query",
    "finetuned": "from the tuned model",
}


def add_parsers(sub: Any) -> None:
    ask = sub.add_parser("ask", help="answer a question (routed, with citations)")
    ask.add_argument("question", metavar="QUESTION", help="the question, in quotes")
    ask.add_argument("--tenant", help=TENANT_HELP)
    ask.add_argument(
        "--thread", help="conversation id: questions sharing it share memory (default: none)"
    )
    ask.add_argument("--json", action="store_true", help="print one JSON object, no streaming")

    route = sub.add_parser("route", help="show the routing decision without answering")
    route.add_argument("question", metavar="QUESTION", help="the question, or - for stdin lines")
    route.add_argument("--tenant", help=TENANT_HELP)
    route.add_argument("--json", action="store_true", help="print JSON")

    rate = sub.add_parser("rate", help="rate an answer (same path as the chat buttons)")
    rate.add_argument("answer_id", metavar="ANSWER_ID", help="the id `ask` and `log` print")
    rate.add_argument("rating", choices=["up", "down"], help="👍 or 👎")
    rate.add_argument("--reason", default="", help="why (default: none)")
    rate.add_argument(
        "--correction", default="", help="the right answer, for fine-tuning (default: none)"
    )

    forget = sub.add_parser(
        "forget", help="delete the thread memory of conversations idle for N days"
    )
    forget.add_argument(
        "--idle-days",
        type=whole_number(),
        default=None,
        metavar="N",
        help="default: settings [server] thread_memory_days, "
        f"{setting_default(ServerSettings, 'thread_memory_days')}",
    )

    log = sub.add_parser("log", help="recent answers with their ratings")
    log.add_argument("--json", action="store_true", help="one JSON object per answer")
    log.add_argument("--limit", type=int, default=20, help="how many answers, newest first")
    log.add_argument("--tenant", help="only this tenant's answers (default: every tenant)")
    log.add_argument(
        "--rating",
        choices=["up", "down", "none"],
        default=None,
        help="only answers rated 👍 (up), 👎 (down) or not rated (none) (default: all)",
    )


def answer_json(record: AnswerRecord) -> dict[str, Any]:
    # The documents the answer was given but cites none of (shown as "consulted").
    sources = shown_sources(record)
    consulted = sources.items if sources and sources.kind == "consulted" else ()
    return {
        "answer_id": record.answer_id,
        "question": record.question,
        "answer": record.answer,
        "route": record.route,
        "rewrites": record.rewrites,
        "queries": list(record.queries),
        "citations": [
            {"n": c.n, "title": c.title, "source": c.source, "url": c.url, "chunk_id": c.chunk_id}
            for c in record.citations
        ],
        "consulted": [
            {"title": s.title, "source": s.source, "url": s.url, "chunk_id": s.chunk_id}
            for s in consulted
        ],
        "model": record.model,
        "tenant": record.tenant,
        "platform": record.platform,
        "created_at": record.created_at.isoformat(),
        "trace": [{"node": s.node, "verdict": s.verdict, "ms": s.ms} for s in record.trace],
        "error": record.error or None,
    }


def logged_json(item: LoggedAnswer) -> dict[str, Any]:
    out = answer_json(item.record)
    out.update(
        rating=item.rating,
        reason=item.reason or None,
        correction=item.correction or None,
        ups=item.ups,
        downs=item.downs,
        withdrawn=item.withdrawn,
    )
    return out


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def run(args: argparse.Namespace, services: Any, tenant: str | None) -> int:
    if args.command == "ask":
        return _ask(args, services, tenant or services.settings.default_tenant)
    if args.command == "route":
        return _route(args, services, tenant or services.settings.default_tenant)
    if args.command == "rate":
        return _rate(args, services)
    if args.command == "forget":
        return _forget(args, services)
    return _log(args, services, tenant)


def _forget(args: argparse.Namespace, services: Any) -> int:
    """What ``askloop serve`` does hourly, for installs that never run the server."""
    days = args.idle_days or services.settings.server.thread_memory_days
    if not days:
        print(
            "thread memory is kept for ever ([server] thread_memory_days = 0); "
            "pass --idle-days N to forget idle conversations now"
        )
        return 0
    forgotten = services.forget_idle_threads(older_than=timedelta(days=days))
    print(
        f"forgot the memory of {forgotten} conversations idle for more than {days} days "
        "(their answers and ratings stay in the log)"
    )
    return 0


#: What a failed answer's apology stands for, said on stderr instead of showing it as an
#: answer (``AnswerRecord.error``; "empty_knowledge_base" is an answer, with a hint).
_FAILURES = {
    "model_unavailable": "the model {model} did not answer (unreachable or failing)",
    "store_unavailable": "the knowledge base could not be searched",
}


def _ask(args: argparse.Namespace, services: Any, tenant: str) -> int:
    turn = Turn(
        question=args.question,
        tenant=tenant,
        platform="cli",
        conversation_id=args.thread or "",
        user=getpass.getuser(),
    )
    terminal = Terminal()
    if args.json:
        terminal.streams = False
    prepare_models(services, terminal)
    listening = terminal.streams or terminal.shows_status
    try:
        record = services.assistant.answer(
            turn, on_progress=terminal.progress if listening else None
        )
    finally:
        terminal.clear_status()
    failed = bool(record.error) and record.error != "empty_knowledge_base"
    if failed:
        what = _FAILURES.get(record.error, "there is no answer ({error})")
        say.error(
            f"{what.format(model=record.model, error=record.error)}; "
            f"logged as {record.answer_id} (run with -v for the reason)"
        )
    if args.json:
        _print_json(answer_json(record))
        return 1 if failed else 0
    if failed:
        return 1
    terminal.finish(record.answer)
    if record.error == "empty_knowledge_base":
        flag = "" if tenant == services.settings.default_tenant else f" --tenant {tenant}"
        print(f"Add documents with: askloop ingest PATH...{flag}")
        return 0
    sources = shown_sources(record)
    if sources is not None:
        print(f"\n{sources.label}:")
        for s in sources.items:
            mark = s.mark or "-"
            print(f"  {mark} {s.title} — {s.url or s.source}")
    took = sum(s.ms for s in record.trace) / 1000
    print(f"\n({ROUTE_TEXT[record.route]} · {record.model} · {took:.1f}s)")
    print(f"answer id {record.answer_id} — rate it: askloop rate {record.answer_id} up|down")
    return 0


def _route(args: argparse.Namespace, services: Any, tenant: str) -> int:
    assistant = services.assistant
    prepare_embedder(services.embedder, Terminal())
    if args.question != "-":
        decision = assistant.route(args.question, tenant=tenant)
        if args.json:
            _print_json(decision)
        else:
            print(f"{decision['route']} ({decision['trace']['detail'].get('reason', '')})")
        return 0
    status = 0
    for line in sys.stdin:
        question = line.rstrip("\n")
        try:
            _print_json(assistant.route(question, tenant=tenant))
        except InvalidInputError as exc:
            _print_json({"question": question, "route": None, "error": str(exc)})
            status = 2
        sys.stdout.flush()
    return status


def _rate(args: argparse.Namespace, services: Any) -> int:
    # Rating needs only the log: the Assistant loads no model and compiles no graph for it.
    logged = services.assistant.rate(
        answer_id=args.answer_id,
        rating=args.rating,
        user=getpass.getuser(),
        source="cli",
        reason=args.reason,
        correction=args.correction,
    )
    mark = "👍" if args.rating == "up" else "👎"
    print(f"Recorded {mark} for {args.answer_id} (now {logged.ups} 👍 / {logged.downs} 👎).")
    return 0


def _log(args: argparse.Namespace, services: Any, tenant: str | None) -> int:
    if args.limit < 1:
        raise InvalidInputError("--limit must be 1 or more")
    items = services.assistant.recent(limit=args.limit, tenant=tenant, rating=args.rating)
    if args.json:
        for item in items:
            _print_json(logged_json(item))
        return 0
    if not items:
        if args.rating == "none":
            print("No unrated answers in the log.")
        elif args.rating:
            print(f"No answers rated {args.rating} in the log.")
        else:
            print('No answers logged yet: try `askloop ask "..."`.')
    for item in items:
        r = item.record
        rating = {"up": "👍", "down": "👎", None: "  "}[item.rating]
        withdrawn = " (withdrawn)" if item.withdrawn else ""
        route = "failed" if r.error and r.error != "empty_knowledge_base" else r.route
        print(
            f"{r.created_at:%Y-%m-%d %H:%M} {rating} {route:9s} {r.answer_id}  "
            f"{_start(r.question, 60)}{withdrawn}"
        )
        print(f"{'':20}answer: {_start(r.answer, 70)}")
        if item.reason:
            print(f"{'':20}reason: {_start(item.reason, 70)}")
        if item.correction:
            print(f"{'':20}correction: {_start(item.correction, 70)}")
    return 0


def _start(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."
