"""Redaction of personal data and secrets before anything leaves the log.

Each finding is replaced by a typed placeholder (``[EMAIL]``, ``[API_KEY]``, ...), so a
model trained on the output learns the shape of an answer without the data. Patterns
run most specific first: a token inside a URL is caught as a token-bearing URL, an
email inside a mailto link as an email.

People, not documents: secrets (:data:`SECRET_KINDS`) go everywhere, but a phone number
or address the knowledge base publishes is a fact, often the answer. ``personal=False``
removes secrets only (for document text), and ``keep`` (from :func:`facts_in` over the
documents an answer was given) spares those facts where users or the model repeat them.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import partial

__all__ = ["PATTERNS", "SECRET_KINDS", "facts_in", "redact"]

_URL_SECRET_PARAM = (
    r"(?:access_token|refresh_token|id_token|token|api_key|apikey|key|secret|password|"
    r"passwd|pwd|sig|signature|auth|code|session|sessionid|X-Amz-Signature|X-Amz-Credential)"
)

#: (placeholder, pattern) in the order they are applied.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # URLs carrying credentials in the query string or in user:password@.
    (
        "[URL_WITH_TOKEN]",
        re.compile(
            rf"\bhttps?://[^\s<>\"']*?[?&#]{_URL_SECRET_PARAM}=[^\s<>\"'&]+[^\s<>\"']*",
            re.IGNORECASE,
        ),
    ),
    ("[URL_WITH_TOKEN]", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@[^\s<>\"']*")),
    ("[JWT]", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("[SLACK_TOKEN]", re.compile(r"\bxox[abeposr]-[A-Za-z0-9-]{8,}|\bxapp-[A-Za-z0-9-]{8,}")),
    (
        "[API_KEY]",
        re.compile(
            r"\bsk-(?:ant-|proj-|svcacct-)?[A-Za-z0-9_-]{16,}|\bgh[pousr]_[A-Za-z0-9]{30,}"
            r"|\bAIza[0-9A-Za-z_-]{35}"
        ),
    ),
    ("[AWS_KEY]", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b")),
    ("[EMAIL]", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")),
    # Slack mentions and ids: <@U123ABC>, <#C123ABC|general>, <!subteam^S123>, bare ids.
    ("[USER]", re.compile(r"<@[UW][A-Z0-9]{6,}(?:\|[^>]*)?>")),
    ("[CHANNEL]", re.compile(r"<#[CGD][A-Z0-9]{6,}(?:\|[^>]*)?>")),
    ("[GROUP]", re.compile(r"<!subteam\^[A-Z0-9]+(?:\|[^>]*)?>")),
    ("[SLACK_ID]", re.compile(r"\b[UWCGDTE](?=[A-Z0-9]*\d)[A-Z0-9]{8,11}\b")),
    # Teams mentions and ids: <at>Name</at>, 29:…, 28:…, 19:…@thread.tacv2, AAD GUIDs.
    ("[USER]", re.compile(r"<at>[^<]{0,100}</at>")),
    ("[TEAMS_ID]", re.compile(r"\b(?:19|28|29|8):[A-Za-z0-9_.@:-]{8,}")),
    (
        "[ID]",
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
    ),
)


#: Placeholders of secrets: removed from every text, documents included.
SECRET_KINDS = frozenset({"[URL_WITH_TOKEN]", "[JWT]", "[SLACK_TOKEN]", "[API_KEY]", "[AWS_KEY]"})

# Phone number candidates: digits with spaces, dots, dashes or parentheses between them.
_PHONE = re.compile(r"(?<![\w.,-])(?:\+|\()?\d[\d\s().-]{5,}\d(?![\w-])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")


def _is_phone(candidate: str) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    separated = candidate.startswith(("+", "(")) or any(c in candidate for c in " -().")
    if not 7 <= digits <= 15 or not separated or _DATE.fullmatch(candidate.strip()):
        return False
    return not re.fullmatch(r"\d+\.\d+", candidate)  # a decimal number, not a phone


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _phone(match: re.Match[str], keep: Collection[str] = ()) -> str:
    candidate = match.group(0)
    if _is_phone(candidate):
        return candidate if keep and _digits(candidate) in keep else "[PHONE]"
    if sum(ch.isdigit() for ch in candidate) > 15:
        # A number run on into more digits ("+31 10 555 0142 2024"): the longest
        # leading part that is a phone number goes, the rest is looked at again.
        for cut in reversed([m.start() for m in _SEPARATORS.finditer(candidate)]):
            if _is_phone(candidate[:cut]):
                head = candidate[:cut] if keep and _digits(candidate[:cut]) in keep else "[PHONE]"
                return head + _PHONE.sub(partial(_phone, keep=keep), candidate[cut:])
    return candidate


_SEPARATORS = re.compile(r"[\s().-]+")


# Cheap guards: a pattern runs only when the text holds one of its telltale substrings
# (plain ``in`` checks), so ordinary prose pays for two or three regex scans, not 15.
_GUARDS: dict[str, tuple[str, ...]] = {
    "[URL_WITH_TOKEN]": ("://",),
    "[JWT]": ("eyJ",),
    "[SLACK_TOKEN]": ("xox", "xapp-"),
    "[API_KEY]": ("sk-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "AIza"),
    "[AWS_KEY]": ("AKIA", "ASIA", "AGPA", "AIDA", "AROA"),
    "[EMAIL]": ("@",),
    "[USER]": ("<@", "<at>"),
    "[CHANNEL]": ("<#",),
    "[GROUP]": ("<!",),
    "[TEAMS_ID]": ("9:", "8:"),
    "[ID]": ("-",),
}
_SLACK_ID_HINT = re.compile(r"[UWCGDTE][A-Z0-9]{7}")
_STEPS = tuple(
    (placeholder, pattern, _GUARDS.get(placeholder)) for placeholder, pattern in PATTERNS
)
# Anything any pattern could start with; text without it is returned untouched.
_SUSPICIOUS = re.compile(
    r"://|eyJ|xox|xapp-|sk-|gh[pousr]_|AIza|AKIA|ASIA|AGPA|AIDA|AROA|@|<[@#!]|<at>|\d"
    r"|[UWCGDTE][A-Z0-9]{7}|-[0-9a-fA-F]{4}-"
)


def redact(text: str, *, personal: bool = True, keep: Collection[str] = ()) -> str:
    """``text`` with secrets replaced and, if ``personal``, personal data too, except
    the emails and phone numbers in ``keep`` (normalised as :func:`facts_in` makes them)."""
    if not _SUSPICIOUS.search(text):
        return text
    for placeholder, pattern, guards in _STEPS:
        if not personal and placeholder not in SECRET_KINDS:
            continue
        if guards is None:
            if not _SLACK_ID_HINT.search(text):
                continue
        else:
            for guard in guards:
                if guard in text:
                    break
            else:
                continue
        if keep and placeholder == "[EMAIL]":
            text = pattern.sub(partial(_kept_email, keep=keep), text)
        else:
            text = pattern.sub(placeholder, text)
    if personal and _DIGIT.search(text):
        text = _PHONE.sub(partial(_phone, keep=keep) if keep else _phone, text)
    return text


def _kept_email(match: re.Match[str], keep: Collection[str]) -> str:
    return match.group(0) if match.group(0).lower() in keep else "[EMAIL]"


def facts_in(text: str) -> frozenset[str]:
    """The emails (lower-cased) and phone numbers (digits only) ``text`` publishes."""
    found: set[str] = set()
    if "@" in text:
        found.update(m.group(0).lower() for m in _EMAIL.finditer(text))
    if _DIGIT.search(text):
        found.update(_digits(m.group(0)) for m in _PHONE.finditer(text) if _is_phone(m.group(0)))
    return frozenset(found)


_DIGIT = re.compile(r"\d")
_EMAIL = next(pattern for placeholder, pattern in PATTERNS if placeholder == "[EMAIL]")
