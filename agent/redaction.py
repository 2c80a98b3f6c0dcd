"""Redaction of personal data and secrets before anything leaves the log.

Each finding is replaced by a typed placeholder (``[EMAIL]``, ``[API_KEY]``, ...), so a
model trained on the output learns the shape of an answer without the data. Patterns
run most specific first: a token inside a URL is caught as a token-bearing URL, an
email inside a mailto link as an email.
"""

from __future__ import annotations

import re

__all__ = ["PATTERNS", "redact"]

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


# Phone number candidates: digits with spaces, dots, dashes or parentheses between them.
_PHONE = re.compile(r"(?<![\w.,-])(?:\+|\()?\d[\d\s().-]{5,}\d(?![\w-])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")


def _is_phone(candidate: str) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    separated = candidate.startswith(("+", "(")) or any(c in candidate for c in " -().")
    if not 7 <= digits <= 15 or not separated or _DATE.fullmatch(candidate.strip()):
        return False
    return not re.fullmatch(r"\d+\.\d+", candidate)  # a decimal number, not a phone


def _phone(match: re.Match[str]) -> str:
    candidate = match.group(0)
    if _is_phone(candidate):
        return "[PHONE]"
    if sum(ch.isdigit() for ch in candidate) > 15:
        # A number run on into more digits ("+31 10 555 0142 2024"): the longest
        # leading part that is a phone number goes, the rest is looked at again.
        for cut in reversed([m.start() for m in _SEPARATORS.finditer(candidate)]):
            if _is_phone(candidate[:cut]):
                return "[PHONE]" + _PHONE.sub(_phone, candidate[cut:])
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


def redact(text: str) -> str:
    if not _SUSPICIOUS.search(text):
        return text
    for placeholder, pattern, guards in _STEPS:
        if guards is None:
            if not _SLACK_ID_HINT.search(text):
                continue
        else:
            for guard in guards:
                if guard in text:
                    break
            else:
                continue
        text = pattern.sub(placeholder, text)
    if _DIGIT.search(text):
        text = _PHONE.sub(_phone, text)
    return text


_DIGIT = re.compile(r"\d")
