"""Loaders: turn a file into a title and a list of heading-scoped sections.

Markdown, plain text, HTML and PDF. Every failure is a ``LoadError`` whose message
names the problem in words a user can act on; the caller decides to skip the file.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "LoadError",
    "LoadedDocument",
    "Section",
    "SUPPORTED_SUFFIXES",
    "load_file",
    "parse_markdown",
]

log = logging.getLogger(__name__)

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdx"})
TEXT_SUFFIXES = frozenset({".txt", ".text", ".rst"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES


class LoadError(Exception):
    """The file cannot be ingested; the message says why."""


@dataclass(frozen=True, slots=True)
class Section:
    heading_path: tuple[str, ...]
    text: str


@dataclass(slots=True)
class LoadedDocument:
    source: str
    title: str
    doc_type: str
    content_hash: str
    sections: list[Section] = field(default_factory=list)
    url: str = ""

    @property
    def is_empty(self) -> bool:
        return not any(s.text.strip() for s in self.sections)


def load_file(path: Path, *, url: str = "") -> LoadedDocument:
    """Load one file. ``path`` should be absolute; it becomes the document's source."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"unsupported file type {suffix or '(none)'}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from None
    if not raw.strip():
        raise LoadError("file is empty")
    content_hash = hashlib.sha256(raw).hexdigest()[:32]
    source = str(path)
    if suffix in PDF_SUFFIXES:
        doc = _load_pdf(path, raw)
    else:
        text = _decode(raw, path)
        if suffix in HTML_SUFFIXES:
            doc = _load_html(text)
        elif suffix in MARKDOWN_SUFFIXES:
            doc = parse_markdown(text)
        else:
            doc = LoadedDocument(
                source="", title="", doc_type="text", content_hash="", sections=[Section((), text)]
            )
    doc.source = source
    doc.content_hash = content_hash
    doc.title = doc.title.strip() or _title_from_path(path)
    doc.url = doc.url or url
    if doc.is_empty:
        raise LoadError("no text found in file")
    return doc


def _title_from_path(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.name


def _decode(raw: bytes, path: Path) -> str:
    if b"\x00" in raw[:8192]:
        raise LoadError("looks like a binary file (contains NUL bytes)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(raw[: 1 << 20])
    best = matches.best()
    if best is None or best.encoding is None:
        raise LoadError("not valid UTF-8 and no other text encoding fits")
    # The detector often scores cp1250 and cp1252 the same for Western text and then
    # picks cp1250 ("crème" -> "crčme"); a tie goes to cp1252, the common legacy encoding.
    for match in matches:
        if (
            match.chaos == best.chaos
            and match.coherence == best.coherence
            and "cp1252" in match.could_be_from_charset
        ):
            best = match
            break
    log.warning("%s: not UTF-8, decoded as %s", path, best.encoding)
    try:
        return raw.decode(best.encoding)
    except (UnicodeDecodeError, LookupError):
        raise LoadError(f"not valid UTF-8 and not valid {best.encoding}") from None


_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_FRONT_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$")


def parse_markdown(text: str) -> LoadedDocument:
    """Split Markdown into sections by ATX/setext headings (not inside code fences)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    meta: dict[str, str] = {}
    if lines and lines[0].strip() == "---":
        for i in range(1, min(len(lines), 200)):
            if lines[i].strip() in ("---", "..."):
                for line in lines[1:i]:
                    m = _FRONT_KEY.match(line)
                    if m:
                        meta[m.group(1).lower()] = m.group(2).strip().strip("'\"")
                lines = lines[i + 1 :]
                break

    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []
    title = meta.get("title", "")
    fence: str | None = None

    def flush() -> None:
        content = "\n".join(body).strip()
        if content:
            sections.append(Section(tuple(h for _, h in stack), content))
        body.clear()

    def open_heading(level: int, heading: str) -> None:
        nonlocal title
        flush()
        while stack and stack[-1][0] >= level:
            stack.pop()
        if level == 1 and (not title or heading == title):
            title = title or heading
            return  # the H1 is the title, not a level of the path
        stack.append((level, heading))

    for line in lines:
        m = _FENCE.match(line)
        if m:
            marker = m.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                # CommonMark: a closing fence is at least as long as the opening one
                # and has no info string, so ```` can wrap a ``` example.
                if not line.strip(marker[0] + " \t"):
                    fence = None
            body.append(line)
            continue
        if fence is None:
            atx = _ATX.match(line)
            if atx:
                open_heading(len(atx.group(1)), _strip_inline(atx.group(2)))
                continue
            setext = _SETEXT.match(line)
            if (
                setext
                and body
                and body[-1].strip()
                and not _is_list_or_rule(body[-1])
                and not _FENCE.match(body[-1])  # "---" after a code block is a rule
            ):
                heading = body.pop().strip()
                open_heading(1 if setext.group(1)[0] == "=" else 2, _strip_inline(heading))
                continue
        body.append(line)
    flush()
    return LoadedDocument(
        source="",
        title=title,
        doc_type="markdown",
        content_hash="",
        sections=sections,
        url=meta.get("url", ""),
    )


def _is_list_or_rule(line: str) -> bool:
    return bool(re.match(r"^\s*([-*+]|\d+[.)])\s", line)) or bool(_SETEXT.match(line))


def _strip_inline(text: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*_`]+", "", text).strip()


_BLOCK_TAGS = ("p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption")
_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "nav",
    "footer",
    "aside",
    "form",
    "svg",
    "template",
    "iframe",
)
#: ARIA landmark roles of page chrome: the roles of <nav>, <header>, <footer>, <aside>
#: and a search form.
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})


#: The text of a heading's permalink anchor (Sphinx, MkDocs, many static site generators).
_PERMALINK_MARKS = frozenset({"¶", "§", "#", "🔗"})


def _role(tag: Any) -> str:
    """An element's ARIA role: the first token of its ``role`` list (the later ones are
    fallbacks for user agents that do not know the first), lower-cased."""
    tokens = str(tag.get("role", "")).split()
    return tokens[0].lower() if tokens else ""


#: A link that leaves the site (or the document set): a scheme, or a host of its own.
_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.I)
#: A link list shorter than this is left in (a "see also" pair reads as content).
_LINK_LIST_ITEMS = 3


def _is_link_list(tag: Any) -> bool:
    """Every item of the list ``tag`` is the text of links to other pages of the same
    site alone (its own lists aside). A list of links elsewhere ("Useful links": the
    expense tool, the VPN portal) names things a question may ask about, and is kept."""
    items = tag.find_all("li", recursive=False)
    if len(items) < _LINK_LIST_ITEMS:
        return False
    for item in items:
        own = [
            text
            for text in item.find_all(string=True)
            if text.strip() and text.find_parent(["ul", "ol"]) is tag
        ]
        if not own:
            return False
        for text in own:
            link = text.find_parent("a")
            if link is None or _EXTERNAL.match(str(link.get("href", ""))):
                return False
    return True


#: Elements a browser sets apart from the text around them (a block, a cell, a break):
#: their text is a separate run of words. Every other element (a link, code, emphasis, a
#: span) runs on with its neighbours as the source writes them.
_SEPARATE_TAGS = frozenset(
    {
        *_BLOCK_TAGS, *_HEADING_TAGS, "br", "hr", "div", "section", "article", "main",
        "header", "ul", "ol", "dl", "table", "thead", "tbody", "tfoot", "tr", "caption",
        "figure", "details", "summary", "address", "img",
    }
)  # fmt: skip


_SPACE = object()


def _rendered(tag: Any) -> str:
    """A tag's text as a browser shows it outside ``<pre>``: line breaks in the source are
    spaces, runs of whitespace one space (a paragraph wrapped over source lines reads
    whole, its sentences unbroken), inline elements join their neighbours as written
    ("<code>os.</code><code>path</code>" reads "os.path", "<code>True</code>." reads
    "True.") and block elements and breaks stand apart."""
    from bs4 import CData, NavigableString

    out: list[str] = []
    pending: list[Any] = [tag]
    while pending:  # depth first, in document order, without recursion
        node = pending.pop()
        if node is _SPACE:  # the end of a separate element
            out.append(" ")
            continue
        if isinstance(node, NavigableString):
            # The text of strings and CDATA; not comments, doctypes or instructions.
            if type(node) in (NavigableString, CData):
                out.append(str(node))
            continue
        separate = node is not tag and node.name in _SEPARATE_TAGS
        if separate:
            pending.append(_SPACE)
        pending.extend(reversed(list(node.children)))
        if separate:
            out.append(" ")
    return " ".join("".join(out).split())


def _load_html(text: str) -> LoadedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    title_tag = soup.find("title")
    title = _rendered(title_tag) if title_tag else ""
    canonical = soup.find("link", rel="canonical")
    url = str(canonical.get("href", "")) if canonical else ""
    for tag in soup(list(_DROP_TAGS)):
        tag.decompose()
    # The same chrome marked by ARIA landmark roles only (documentation generators'
    # breadcrumbs, "previous/next topic" sidebars, search boxes): a hit on it would
    # quote another page's link as an answer.
    roles = soup.find_all(role=True)
    for tag in roles:
        if not tag.decomposed and _role(tag) in _CHROME_ROLES:
            tag.decompose()
    # A page's banner <header> is chrome; an <article>'s or <main>'s header holds its title.
    for tag in soup("header"):
        if not any(parent.name in ("article", "main") for parent in tag.parents):
            tag.decompose()
    # A page that marks its one main content reads as that alone (banners, promotions).
    mains = soup.find_all("main") or [
        tag for tag in roles if not tag.decomposed and _role(tag) == "main"
    ]
    root = mains[0] if len(mains) == 1 else (soup.body or soup)
    # Permalink anchors beside headings ("¶", "§", "#"): a heading reads as its words.
    for tag in root.find_all("a"):
        if not tag.decomposed and tag.get_text(strip=True) in _PERMALINK_MARKS:
            tag.decompose()
    # A list whose every item is only a link is a table of contents (a Sphinx toctree, a
    # section's index of child pages): navigation the pages it links to hold the content of.
    for tag in root.find_all(["ul", "ol"]):
        if not tag.decomposed and _is_link_list(tag):
            tag.decompose()
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []
    h1_seen = False

    def flush() -> None:
        content = "\n\n".join(body).strip()
        if content:
            sections.append(Section(tuple(h for _, h in stack), content))
        body.clear()

    wanted = set(_BLOCK_TAGS) | set(_HEADING_TAGS)
    for el in root.find_all(list(wanted)):
        if any(parent.name in wanted for parent in el.parents):
            continue  # its text is already in the enclosing block
        content = _rendered(el) if el.name != "pre" else el.get_text()
        if not content.strip():
            continue
        if el.name in _HEADING_TAGS:
            level = int(el.name[1])
            flush()
            while stack and stack[-1][0] >= level:
                stack.pop()
            if level == 1 and not h1_seen:
                h1_seen = True
                title = title or content
                if content == title:
                    continue
            stack.append((level, content))
        else:
            body.append(("- " + content) if el.name == "li" else content)
    flush()
    if not sections:
        loose = root.get_text("\n", strip=True)
        if loose:
            sections.append(Section((), loose))
    return LoadedDocument(
        source="", title=title, doc_type="html", content_hash="", sections=sections, url=url
    )


def _load_pdf(path: Path, raw: bytes) -> LoadedDocument:
    if not raw.startswith(b"%PDF"):
        raise LoadError("not a PDF (no %PDF header)")
    from langchain_community.document_loaders import PyPDFLoader

    try:
        pages = list(PyPDFLoader(str(path)).lazy_load())
    except Exception as exc:  # pypdf raises many types for broken/encrypted files
        raise LoadError(f"cannot parse PDF: {exc}") from None
    sections: list[Section] = []
    title = ""
    for page in pages:
        number = int(page.metadata.get("page", len(sections))) + 1
        title = title or str(page.metadata.get("title", "") or "")
        if page.page_content.strip():
            sections.append(Section((f"page {number}",), page.page_content))
    return LoadedDocument(
        source="", title=title, doc_type="pdf", content_hash="", sections=sections
    )
