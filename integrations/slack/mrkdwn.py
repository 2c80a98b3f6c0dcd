"""Model Markdown → Slack mrkdwn, defanged; Slack text → a plain question.

Defanging: ``&``, ``<`` and ``>`` are escaped, so nothing the model writes can become
a Slack control sequence (``<!channel>``, ``<!here>``, ``<@U…>``, ``<url|label>``);
``@channel``/``@here``/``@everyone`` get a word joiner so they never notify; the only
links are the ones built here, to cited sources. Everything else that looks like a
link is shown as text (bare URLs as code, so no client turns them into links).
``to_markdown`` defangs the same way for Slack's streaming API, which takes standard
Markdown rather than mrkdwn.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

__all__ = ["escape", "link", "question_text", "split_mrkdwn", "to_markdown", "to_mrkdwn"]

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_WORD_JOINER = "\u2060"

_FENCE = re.compile(r"^\s*```")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_QUOTE = re.compile(r"^\s{0,3}>\s?")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
# Protected spans, found before emphasis is converted: code, links, URLs, markers.
_TOKENS = re.compile(
    r"(?P<code>`[^`\n]+`)"
    r"|(?P<image>!\[(?P<alt>[^\]\n]*)\]\((?P<src>[^)\s]*)(?:\s+\"[^\"]*\")?\))"
    r"|(?P<link>\[(?P<label>[^\]\n]+)\]\((?P<href>[^)\s]+)(?:\s+\"[^\"]*\")?\))"
    r"|(?P<url>\bhttps?://[^\s<>()\[\]`|]+[^\s<>()\[\]`|.,;:!?'\"])"
    r"|(?P<marker>\[(?P<n>\d{1,3})\])"
)
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")


def escape(text: str) -> str:
    """Text safe to put inside mrkdwn: no control sequences, no broadcast pings."""
    return _BROADCAST.sub(lambda m: "@" + _WORD_JOINER + m.group(1), text.translate(_ESCAPES))


def _safe_url(url: str) -> str | None:
    url = url.strip()
    if not re.match(r"^https?://[^\s<>|]+$", url):
        return None
    return url.replace("&", "&amp;")


def link(url: str, label: str) -> str:
    """A mrkdwn link, or the escaped label alone when the URL is not a plain http(s) one."""
    safe = _safe_url(url)
    text = escape(label).replace("|", "/")
    return f"<{safe}|{text}>" if safe else text


def _inline(text: str, markers: Mapping[int, str], allowed: Collection[str]) -> str:
    """One line of prose: protected spans, emphasis, escaping."""
    spans: list[str] = []

    def protect(m: re.Match[str]) -> str:
        if m["code"]:
            rendered = escape(m["code"])
        elif m["image"]:
            rendered = escape(m["alt"] or "")
        elif m["link"]:
            href = m["href"].strip()
            rendered = link(href, m["label"]) if href in allowed else escape(m["label"])
        elif m["url"]:
            url = m["url"]
            rendered = (
                f"<{_safe_url(url)}>" if url in allowed and _safe_url(url) else f"`{escape(url)}`"
            )
        else:
            n = int(m["n"])
            rendered = link(markers[n], f"[{n}]") if n in markers else f"[{n}]"
        spans.append(rendered)
        return f"\x00{len(spans) - 1}\x00"

    text = _TOKENS.sub(protect, text)
    text = _BOLD.sub("\x01\\2\x01", text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    text = escape(text).replace("\x01", "*")
    return _PLACEHOLDER.sub(lambda m: spans[int(m.group(1))], text)


def to_mrkdwn(
    markdown: str, *, markers: Mapping[int, str] | None = None, allowed: Collection[str] = ()
) -> str:
    """Convert model Markdown to defanged mrkdwn.

    ``markers`` maps a citation number to its source URL (``[n]`` becomes a link to it);
    ``allowed`` are the URLs a Markdown link or bare URL may keep (the cited sources).
    """
    markers = markers or {}
    out: list[str] = []
    in_code = False
    for line in markdown.replace("\x00", "").replace("\x01", "").splitlines():
        if _FENCE.match(line):
            in_code = not in_code
            out.append("```")
            continue
        if in_code:
            out.append(escape(line))
            continue
        if heading := _HEADING.match(line):
            title = _inline(heading.group(1).replace("**", ""), markers, allowed)
            out.append(f"*{title}*" if title else "")
            continue
        if _RULE.match(line):
            out.append("──────────")
            continue
        prefix = ""
        if quote := _QUOTE.match(line):
            prefix, line = "> ", line[quote.end() :]
        if bullet := _BULLET.match(line):
            prefix += bullet.group(1) + "• "
            line = line[bullet.end() :]
        out.append(prefix + _inline(line, markers, allowed))
    if in_code:
        out.append("```")
    return "\n".join(out).strip("\n")


_ENTITY_AMP = re.compile(r"&(?=#?\w+;)")
_QUOTE_MARKS = re.compile(r"^\s{0,3}(?:>\s?)+")


def _escape_markdown(text: str) -> str:
    """``escape`` for standard Markdown: an ``&`` only where it would start an entity,
    so "Q&A" stays as written."""
    text = _ENTITY_AMP.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@" + _WORD_JOINER + m.group(1), text)


def _inline_markdown(text: str) -> str:
    out: list[str] = []
    end = 0
    for m in _TOKENS.finditer(text):
        out.append(_escape_markdown(text[end : m.start()]))
        end = m.end()
        if m["code"]:
            out.append(_escape_markdown(m["code"]))
        elif m["image"]:
            out.append(_escape_markdown(m["alt"] or ""))
        elif m["link"]:
            out.append(_escape_markdown(m["label"]))
        elif m["url"]:
            out.append(f"`{_escape_markdown(m['url'])}`")
        else:
            out.append(m.group(0))
    out.append(_escape_markdown(text[end:]))
    return "".join(out)


def to_markdown(markdown: str) -> str:
    """Model Markdown as the streaming API's ``markdown_text``: still Markdown (Slack
    renders headings, lists, quotes and code itself), defanged like ``to_mrkdwn`` —
    links become their label, bare URLs code, ``<``/``>`` are escaped. Each token is
    converted on its own, so a longer text's result extends a shorter one's as long as
    no token was cut in half."""
    out: list[str] = []
    in_code = False
    for line in markdown.replace("\x00", "").split("\n"):
        if _FENCE.match(line):
            in_code = not in_code
            out.append(_escape_markdown(line))
        elif in_code:
            out.append(_escape_markdown(line))
        else:
            quote = _QUOTE_MARKS.match(line)
            prefix = quote.group(0) if quote else ""
            out.append(prefix + _inline_markdown(line[len(prefix) :]))
    return "\n".join(out)


_PIECES = re.compile(r"<[^<>\n]*>|&\w+;|[^\s<&]+|\s+|.", re.S)


def _cut_line(line: str, width: int) -> list[str]:
    """Break one long line into pieces ≤ width, never inside a link or an entity."""
    pieces: list[str] = []
    current = ""
    for token in _PIECES.findall(line):
        while len(token) > width:  # a single huge word: no better place to cut
            if current:
                pieces.append(current)
                current = ""
            pieces.append(token[:width])
            token = token[width:]
        if len(current) + len(token) > width:
            if current.strip():
                pieces.append(current.rstrip())
            current = token.lstrip()
        else:
            current += token
    if current.strip():
        pieces.append(current)
    return pieces or [""]


def split_mrkdwn(text: str, limit: int) -> list[str]:
    """Split mrkdwn into parts ≤ ``limit`` chars at line breaks (else at spaces), keeping
    links whole and code blocks closed in each part."""
    reserve = len("\n```")
    if limit <= 2 * reserve:
        raise ValueError("limit too small to split into")
    parts: list[str] = []
    lines: list[str] = []
    size = 0
    in_code = False

    def flush() -> None:
        nonlocal lines, size
        if lines and any(s.strip() and s != "```" for s in lines):
            parts.append("\n".join([*lines, "```"] if in_code else lines).strip("\n"))
        lines = ["```"] if in_code else []
        size = len("```") if in_code else 0

    for raw in text.split("\n"):
        for line in (
            _cut_line(raw, limit - 2 * reserve) if len(raw) > limit - 2 * reserve else [raw]
        ):
            extra = len(line) + (1 if lines else 0)
            closing = in_code and line == "```"  # its room was reserved
            if size + extra + (reserve if in_code and not closing else 0) > limit:
                flush()
                extra = len(line) + (1 if lines else 0)
            lines.append(line)
            size += extra
            if line == "```":
                in_code = not in_code
    flush()
    return parts or [""]


_SLACK_MARKUP = re.compile(r"<([^<>|\n]*)(?:\|([^<>\n]*))?>")


def question_text(text: str, *, bot_user_ids: Collection[str | None] = ()) -> str:
    """A Slack message's text as the question to ask: mentions of the bot removed, other
    markup (users, channels, links, broadcasts) turned into readable plain text."""

    def plain(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith("@"):
            if target[1:] in bot_user_ids:
                return ""
            return "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            name = target[1:].split("^")[0]
            return label or ("@" + name if name in ("here", "channel", "everyone") else "")
        target = target.removeprefix("mailto:")
        return f"{label} ({target})" if label and label != target else target

    text = _SLACK_MARKUP.sub(plain, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]+", " ", text).strip()
