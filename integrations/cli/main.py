"""The ``askloop`` command line. Exit codes: 0 ok, 2 bad usage or input, 1 unexpected."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from askloop.agent.errors import AskloopError, InvalidInputError, UnknownAnswerError
from askloop.agent.records import SEARCH_MODES, Hit
from askloop.config.sections import SearchSettings
from askloop.config.settings import Settings, SettingsError, load_settings, validate_tenant
from askloop.integrations.cli import say
from askloop.integrations.cli.args import (
    TENANT_HELP,
    DefaultsHelpFormatter,
    setting_default,
    whole_number,
)
from askloop.integrations.cli.terminal import IngestBars, Terminal, prepare_embedder

__all__ = ["main"]

log = logging.getLogger("askloop")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Usage errors in askloop's one error format, exit 2; help names every default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"askloop: error: {message}\n")


class _SubParser(_Parser):
    """A subcommand's parser: ``-v`` is taken after the subcommand too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            "-v",
            "--verbose",
            dest="verbose_after",
            action="count",
            default=argparse.SUPPRESS,
            help="more logging: -v info and tracebacks, -vv debug (also before the command)",
        )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("askloop")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="askloop", description=__doc__)
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging: -v info and tracebacks, -vv debug",
    )
    parser.add_argument("--version", action="version", version=f"askloop {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_SubParser)

    ingest = sub.add_parser("ingest", help="chunk, embed and upsert files or folders")
    ingest.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="files or folders (md, txt, html, pdf)"
    )
    ingest.add_argument("--tenant", help=TENANT_HELP)
    ingest.add_argument(
        "--prune",
        action="store_true",
        help="remove chunks of files under the given folders that are gone",
    )

    search = sub.add_parser("search", help="search the knowledge base without answering")
    search.add_argument("query", metavar="QUERY", help="the query, or - for one per stdin line")
    search.add_argument(
        "--k",
        type=whole_number(high=1000),
        default=None,
        help="how many hits "
        f"(default: settings [search] k, {setting_default(SearchSettings, 'k')})",
    )
    search.add_argument("--tenant", help=TENANT_HELP)
    search.add_argument(
        "--mode",
        choices=SEARCH_MODES,
        default=None,
        help="hybrid = words and meaning, keyword = words (BM25), vector = meaning "
        f"(default: settings [search] mode, {setting_default(SearchSettings, 'mode')})",
    )
    search.add_argument("--json", action="store_true", help="print JSON")

    from askloop.integrations.cli import answers as cli_answers

    cli_answers.add_parsers(sub)
    from askloop.integrations.cli import export as cli_export

    cli_export.add_parser(sub)
    from askloop.integrations.cli import serve as cli_serve

    cli_serve.add_parser(sub)
    from askloop.integrations.cli import tune as cli_tune

    cli_tune.add_parser(sub)
    from askloop.integrations.cli import learn as cli_learn

    cli_learn.add_parsers(sub)
    return parser


class _Brief(logging.Formatter):
    """Log lines without their tracebacks: those are for ``-v`` (the command's own
    message already says what failed)."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def _configure_logging(verbose: int, settings: Settings, command: str) -> None:
    """``-v`` INFO, ``-vv`` DEBUG, both with tracebacks. Without ``-v`` a command shows
    only errors, without tracebacks (it says what went wrong itself), unless a log level
    was set in the settings; the server logs at the settings' level, INFO at least."""
    chosen = settings.log_level
    if command == "serve" and chosen in ("WARNING", "ERROR"):
        chosen = "INFO"  # a server's operators want its log lines
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else chosen
    shown: int | str = level
    if not verbose and command != "serve" and "log_level" not in settings.model_fields_set:
        shown = logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(shown)
    brief = not verbose and command != "serve"
    handler.setFormatter(
        (_Brief if brief else logging.Formatter)("askloop: %(levelname)s: %(name)s: %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler])
    if verbose < 2:  # the pool logs every connection handed out at INFO
        logging.getLogger("psycopg.pool").setLevel(logging.WARNING)


def _tenant(args: argparse.Namespace, settings: Settings) -> str:
    try:
        return validate_tenant(args.tenant) if args.tenant else settings.default_tenant
    except SettingsError as exc:
        raise _UsageError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.verbose += getattr(args, "verbose_after", 0)
    try:
        settings = load_settings()
    except SettingsError as exc:
        say.error(str(exc))
        return EXIT_USAGE
    _configure_logging(args.verbose, settings, args.command)
    from askloop.integrations.wiring import services_for

    fresh = not settings.home.exists()
    try:
        with services_for(settings) as services:
            if args.command == "ingest":
                return _ingest(args, services)
            if args.command == "search":
                return _search(args, services)
            if args.command == "export":
                from askloop.integrations.cli import export as cli_export

                return cli_export.run(args, services)
            if args.command == "tune":
                from askloop.integrations.cli import tune as cli_tune

                return cli_tune.run(args, services, _tenant(args, settings))
            if args.command in ("eval", "promote"):
                from askloop.integrations.cli import learn as cli_learn

                run = cli_learn.run_eval if args.command == "eval" else cli_learn.run_promote
                return run(args, services, _tenant(args, settings))
            if args.command == "serve":
                from askloop.integrations.cli import serve as cli_serve

                return cli_serve.run(args, services)
            from askloop.integrations.cli import answers as cli_answers

            tenant = _tenant(args, settings) if getattr(args, "tenant", None) else None
            return cli_answers.run(args, services, tenant)
    except (_UsageError, SettingsError, InvalidInputError, UnknownAnswerError) as exc:
        say.error(str(exc))
        return EXIT_USAGE
    except AskloopError as exc:
        log.debug("command failed", exc_info=True)
        say.error(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        say.error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        # Its text is not ours and may carry hosts, paths or secrets: only the log gets it.
        log.debug("unexpected failure", exc_info=True)
        say.error(f"unexpected error ({type(exc).__name__}); run with -vv for details")
        return EXIT_FAILURE
    finally:
        if fresh and settings.home.exists():
            # Said once, when it is made: where askloop keeps its data from now on.
            say.note(
                f"created the data dir {settings.home.resolve()} "
                "(set ASKLOOP_HOME to keep it elsewhere)"
            )


# -- ingest --------------------------------------------------------------------------------


def _ingest(args: argparse.Namespace, services: Any) -> int:
    from askloop.integrations.ingest.pipeline import ingest_paths

    tenant = _tenant(args, services.settings)

    terminal = Terminal()
    prepare_embedder(services.embedder, terminal)
    bars = IngestBars()
    try:
        report = ingest_paths(
            args.paths,
            tenant=tenant,
            store=services.store,
            embedder=services.embedder,
            settings=services.settings.ingest,
            prune=args.prune,
            progress=bars,
        )
    finally:
        bars.close()
    for problem in report.problems:
        say.warning(f"skipped {problem.path}: {problem.reason}")
    summary = (
        f"tenant {tenant}: {report.documents_written} documents written "
        f"({report.chunks_written} chunks), {report.documents_unchanged} unchanged"
    )
    if report.chunks_replaced:
        summary += f", {report.chunks_replaced} outdated chunks replaced"
    if args.prune:
        summary += f", {report.documents_pruned} pruned ({report.chunks_pruned} chunks)"
    if report.problems:
        summary += f", {len(report.problems)} skipped"
    print(f"{summary} in {report.total_seconds:.1f}s")
    # Refits only with the calibrated router, when the corpus changed (or nothing is fitted).
    if report.files_seen:
        from askloop.integrations.tuning.router import words_current

        # The evidence router's word counts, when the corpus changed (or none are written,
        # or an older version wrote them without the headings).
        changed = report.documents_written or report.documents_pruned or report.chunks_replaced
        if changed or not words_current(services.settings.home, tenant):
            services.write_corpus_words(tenant)
        from askloop.integrations.cli.tune import calibrate_after_ingest

        calibrate_after_ingest(services, tenant)
    if report.files_seen == 0 and not report.problems:
        say.warning("no supported files found (md, txt, html, pdf)")
        return EXIT_USAGE
    return EXIT_USAGE if report.problems else EXIT_OK


# -- search --------------------------------------------------------------------------------


def _search(args: argparse.Namespace, services: Any) -> int:
    settings: Settings = services.settings
    tenant = _tenant(args, settings)
    k = args.k or settings.search.k
    mode = args.mode or settings.search.mode

    assistant = services.assistant
    prepare_embedder(services.embedder, Terminal())

    def run(query: str) -> list[Hit]:
        hits: list[Hit] = assistant.search(query, tenant=tenant, k=k, mode=mode)
        return hits

    if args.query == "-":
        return _search_lines(sys.stdin, sys.stdout, run)
    hits = run(args.query)
    if args.json:
        _print_json({"query": args.query, "hits": [h.to_json() for h in hits]})
        return EXIT_OK
    if not hits:
        empty = assistant.knowledge_base_size(tenant=tenant) == 0
        print(
            f"The knowledge base of tenant {tenant} is empty: run `askloop ingest PATH` first."
            if empty
            else "No results."
        )
        return EXIT_OK
    for n, hit in enumerate(hits, 1):
        _print_hit(n, hit)
    return EXIT_OK


def _search_lines(stdin: TextIO, stdout: TextIO, run: Any) -> int:
    status = EXIT_OK
    for line in stdin:
        query = line.rstrip("\n")
        try:
            record: dict[str, Any] = {"query": query, "hits": [h.to_json() for h in run(query)]}
        except InvalidInputError as exc:
            record = {"query": query, "hits": [], "error": str(exc)}
            status = EXIT_USAGE
        _print_json(record, stdout)
        stdout.flush()
    return status


def _print_json(obj: Any, out: TextIO | None = None) -> None:
    print(json.dumps(obj, ensure_ascii=False), file=out or sys.stdout)


def _display_source(source: str) -> str:
    try:
        return str(Path(source).relative_to(Path.cwd()))
    except ValueError:
        return source


def _print_hit(n: int, hit: Hit) -> None:
    c = hit.chunk
    where = " > ".join((c.title, *c.heading_path))
    snippet = " ".join(c.text.split())
    if len(snippet) > 300:
        snippet = snippet[:297] + "..."
    print(f"[{n}] {where}  (score {hit.score:.3f})")
    print(f"    {c.url or _display_source(c.source)}")
    print(f"    {snippet}\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
