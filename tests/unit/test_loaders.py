"""Loaders: titles, heading paths and the files that must be refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF

from askloop.integrations.ingest.loaders import LoadedDocument, LoadError, Section, load_file


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def load_text(folder: Path, name: str, content: str | bytes, **kwargs: str) -> LoadedDocument:
    return load_file(write(folder, name, content), **kwargs)


def test_markdown_front_matter_gives_title_and_url(tmp_path):
    text = (
        "---\n"
        'title: "Leave policy"\n'
        "URL: https://wiki.example.com/leave\n"
        "owner: people-team\n"
        "---\n"
        "Intro line.\n\n"
        "## Annual leave\n\n"
        "26 days.\n"
    )
    doc = load_text(tmp_path, "leave.md", text, url="https://fallback.example.com/leave")

    assert (doc.title, doc.url, doc.doc_type) == (
        "Leave policy",
        "https://wiki.example.com/leave",
        "markdown",
    )
    assert doc.sections == [Section((), "Intro line."), Section(("Annual leave",), "26 days.")]


def test_caller_url_is_used_when_the_document_has_none(tmp_path):
    doc = load_text(tmp_path, "a.md", "Text.\n", url="https://kb.example.com/a.md")
    assert doc.url == "https://kb.example.com/a.md"


def test_markdown_h1_is_the_title_and_nested_headings_form_the_path(tmp_path):
    text = (
        "# Handbook\n\nWelcome.\n\n"
        "## Leave\n\nLeave text.\n\n"
        "### Carry over\n\nCarry text.\n\n"
        "#### Limits\n\nLimit text.\n\n"
        "## On-call\n\nOn-call text.\n"
    )
    doc = load_text(tmp_path, "handbook.md", text)

    assert doc.title == "Handbook"
    assert doc.sections == [
        Section((), "Welcome."),
        Section(("Leave",), "Leave text."),
        Section(("Leave", "Carry over"), "Carry text."),
        Section(("Leave", "Carry over", "Limits"), "Limit text."),
        Section(("On-call",), "On-call text."),
    ]


def test_markdown_setext_headings(tmp_path):
    text = "Handbook\n========\n\nIntro.\n\nLeave\n-----\n\nLeave text.\n\n---\n\nAfter a rule.\n"
    doc = load_text(tmp_path, "setext.md", text)

    assert doc.title == "Handbook"
    assert doc.sections == [
        Section((), "Intro."),
        Section(("Leave",), "Leave text.\n\n---\n\nAfter a rule."),
    ]


def test_markdown_list_item_above_dashes_is_not_a_heading(tmp_path):
    doc = load_text(tmp_path, "list.md", "## Steps\n\n- first\n---\n\nDone.\n")
    assert doc.sections == [Section(("Steps",), "- first\n---\n\nDone.")]


@pytest.mark.parametrize(
    ("fence", "inner"),
    [
        pytest.param("```bash", "```", id="backticks"),
        pytest.param("~~~", "~~~", id="tildes"),
        pytest.param("````markdown", "````", id="long-fence-wrapping-a-short-one"),
    ],
)
def test_hash_lines_inside_code_fences_are_not_headings(tmp_path, fence, inner):
    nested = "```\n# nested example\n```\n" if fence.startswith("````") else ""
    text = (
        f"# Setup\n\n## Install\n\n{fence}\n# install the tool\n{nested}"
        f"pip install askloop\n{inner}\n\nAfter the fence.\n\n## Use\n\nRun it.\n"
    )
    doc = load_text(tmp_path, "setup.md", text)

    assert doc.title == "Setup"
    assert [s.heading_path for s in doc.sections] == [("Install",), ("Use",)]
    install = doc.sections[0].text
    assert "# install the tool" in install
    assert "pip install askloop" in install
    assert install.endswith("After the fence.")


def test_dashes_after_a_code_fence_are_a_rule_not_a_heading(tmp_path):
    doc = load_text(tmp_path, "rule.md", "## Code\n\n```\nx = 1\n```\n---\n\nMore.\n")
    assert doc.sections == [Section(("Code",), "```\nx = 1\n```\n---\n\nMore.")]


def test_atx_closing_hashes_are_dropped_but_a_trailing_hash_in_a_word_is_kept(tmp_path):
    text = "## Using C#\n\nDotnet.\n\n## Leave ##\n\nDays.\n\n## The `ask` [command](http://x)\n\nIt.\n"
    doc = load_text(tmp_path, "headings.md", text)
    assert [s.heading_path for s in doc.sections] == [
        ("Using C#",),
        ("Leave",),
        ("The ask command",),
    ]


def test_h1_repeating_the_front_matter_title_is_not_a_path_level(tmp_path):
    text = "---\ntitle: Leave\n---\n# Leave\n\n## Annual\n\nDays.\n"
    doc = load_text(tmp_path, "leave.md", text)
    assert doc.title == "Leave"
    assert doc.sections == [Section(("Annual",), "Days.")]


def test_title_falls_back_to_the_file_name(tmp_path):
    doc = load_text(tmp_path, "annual-leave_policy.md", "## Days\n\n26 of them.\n")
    assert doc.title == "Annual leave policy"


def test_plain_text_is_one_section(tmp_path):
    doc = load_text(tmp_path, "notes.txt", "The kitchen closes at 18:00.\n# not a heading\n")
    assert (doc.doc_type, doc.title) == ("text", "Notes")
    assert [s.heading_path for s in doc.sections] == [()]
    assert doc.sections[0].text.strip() == "The kitchen closes at 18:00.\n# not a heading"


def test_utf8_bom_is_not_part_of_the_text(tmp_path):
    doc = load_text(tmp_path, "bom.md", "\ufeff# Title\n\nBody.\n".encode())
    assert doc.title == "Title"
    assert doc.sections == [Section((), "Body.")]


def test_cp1252_text_is_decoded(tmp_path):
    text = "Notre caf\xe9 cr\xe8me est servi chaud, \xe0 la fran\xe7aise. " * 4
    doc = load_text(tmp_path, "menu.txt", text.encode("cp1252"))
    assert "caf\xe9 cr\xe8me" in doc.sections[0].text
    assert "\xe0 la fran\xe7aise" in doc.sections[0].text


HTML = """<!doctype html>
<html><head><title>Leave policy</title>
<link rel="canonical" href="https://wiki.example.com/leave">
<style>.hidden { color: red }</style>
<script>var trackingSecret = 1;</script></head>
<body><nav>Home | About us</nav>
<h1>Leave policy</h1><p>Intro text.</p>
<h2>Annual leave</h2><p>Everyone gets 26 days.</p>
<ul><li>Carry over five</li><li>Ask your <b>manager</b></li></ul>
<h3>Carry over</h3><p>Up to five days.</p>
<h2>Sick leave</h2><p>Tell your lead.</p>
<footer>Copyright ACME</footer></body></html>
"""


def test_html_title_url_and_heading_structure(tmp_path):
    doc = load_text(tmp_path, "leave.html", HTML)

    assert (doc.title, doc.url, doc.doc_type) == (
        "Leave policy",
        "https://wiki.example.com/leave",
        "html",
    )
    assert doc.sections == [
        Section((), "Intro text."),
        Section(
            ("Annual leave",),
            "Everyone gets 26 days.\n\n- Carry over five\n\n- Ask your manager",
        ),
        Section(("Annual leave", "Carry over"), "Up to five days."),
        Section(("Sick leave",), "Tell your lead."),
    ]


def test_html_source_line_breaks_are_spaces_except_in_pre(tmp_path):
    page = (
        "<html><head><title>HTTP\n  modules</title></head><body><h1>HTTP modules</h1>"
        "<p>http is a package that collects several modules for working with the\n"
        "    HyperText Transfer Protocol:</p>\n<ul><li>http.client is a low-level\n"
        "client</li></ul><pre>line one\n  line two</pre></body></html>"
    )
    doc = load_text(tmp_path, "http.html", page)
    assert doc.title == "HTTP modules"
    assert doc.sections == [
        Section(
            (),
            "http is a package that collects several modules for working with the "
            "HyperText Transfer Protocol:\n\n- http.client is a low-level client\n\n"
            "line one\n  line two",
        )
    ]


def test_html_inline_elements_join_their_neighbours_and_blocks_stand_apart(tmp_path):
    """Sphinx marks up signatures and code in spans; a browser shows
    "http.HTTPStatus" and "True.", not "http. HTTPStatus" and "True .". Cells, list
    paragraphs and line breaks stay separate words."""
    page = (
        "<html><body><h1>http</h1><dl><dt><em>class </em><span>http.</span>"
        "<span>HTTPStatus</span><!-- sig --></dt><dd><p>Returns <code>True</code>.</p>"
        "</dd></dl><ul><li><p>one</p><p>two</p></li></ul>"
        "<table><tr><td>Code</td><td>Name<br>long</td></tr></table></body></html>"
    )
    doc = load_text(tmp_path, "http.html", page)
    assert [s.text for s in doc.sections] == [
        "class http.HTTPStatus\n\nReturns True.\n\n- one two\n\nCode\n\nName long"
    ]


def test_html_script_style_nav_and_footer_text_is_dropped(tmp_path):
    everything = " ".join(s.text for s in load_text(tmp_path, "leave.html", HTML).sections)
    for dropped in ("trackingSecret", ".hidden", "Home | About us", "Copyright ACME"):
        assert dropped not in everything


#: A documentation generator's page (Sphinx's layout): breadcrumbs, a sidebar with the
#: previous and next pages and a search box around the content, marked only by ARIA roles.
DOCS_PAGE = """<!doctype html>
<html><head><title>zipfile — Work with ZIP archives</title></head>
<body>
<div class="related" role="navigation" aria-label="Related">
  <h3>Navigation</h3>
  <ul><li><a href="tarfile.html">tarfile — Read and write tar archive files</a> |</li>
  <li><a href="archiving.html">Data Compression and Archiving</a> »</li></ul>
</div>
<div class="document"><div class="body" role="main">
  <h1>zipfile — Work with ZIP archives</h1>
  <p>The ZIP file format is a common archive and compression standard.</p>
  <h2>ZipFile Objects</h2><p>Open a ZIP file, where file can be a path to a file.</p>
</div></div>
<div class="sphinxsidebar" role="navigation" aria-label="Main">
  <h3>Previous topic</h3><p><a href="bz2.html">bz2 — Support for bzip2 compression</a></p>
  <h3>Next topic</h3><p><a href="tarfile.html">tarfile — Read and write tar archive files</a></p>
  <div id="searchbox" role="search"><h3>Quick search</h3><p>Go</p></div>
</div>
<div class="footer" role="contentinfo"><p>Copyright 2001 Python Software Foundation.</p></div>
</body></html>
"""


def test_html_navigation_search_and_footer_landmarks_are_dropped(tmp_path):
    doc = load_text(tmp_path, "zipfile.html", DOCS_PAGE)
    assert doc.title == "zipfile — Work with ZIP archives"
    assert doc.sections == [
        Section((), "The ZIP file format is a common archive and compression standard."),
        Section(("ZipFile Objects",), "Open a ZIP file, where file can be a path to a file."),
    ]


def test_html_roles_are_read_as_aria_lists_of_fallbacks(tmp_path):
    """role="Navigation region" is a navigation landmark (the first token; the rest are
    fallbacks), role="region navigation" is not, and role="main note" marks the main
    content."""
    page = (
        "<html><head><title>Guest wifi</title></head><body>"
        "<div class='promo'><p>Try the new canteen menu!</p></div>"
        "<div role='main note'><h2>Network</h2><p>Join ACME-Guest and ask reception.</p>"
        "<div role='Navigation region'><p>Home | Offices | Wifi</p></div>"
        "<div role='region navigation'><p>Printers pair over ACME-Print.</p></div>"
        "</div></body></html>"
    )
    doc = load_text(tmp_path, "wifi.html", page)
    assert doc.sections == [
        Section(
            ("Network",), "Join ACME-Guest and ask reception.\n\nPrinters pair over ACME-Print."
        )
    ]


def test_html_with_a_main_landmark_keeps_only_it(tmp_path):
    page = (
        "<html><head><title>Guest wifi</title></head><body>"
        "<div class='banner'><p>ACME intranet: 12 new posts today</p></div>"
        "<main><h2>Network</h2><p>Join ACME-Guest and ask reception.</p></main>"
        "<div class='promo'><p>Try the new canteen menu!</p></div></body></html>"
    )
    doc = load_text(tmp_path, "wifi.html", page)
    assert doc.sections == [Section(("Network",), "Join ACME-Guest and ask reception.")]


#: A chapter's index page (Sphinx's toctree): an introduction, then a list of links to the
#: pages that hold the content, each with its own list of links to their sections.
INDEX_PAGE = """<html><head><title>Python Runtime Services</title></head><body>
<div role="main">
<h1>Python Runtime Services<a class="headerlink" href="#runtime" title="Permalink">¶</a></h1>
<p>The modules described in this chapter provide services related to the interpreter.</p>
<div class="toctree-wrapper compound"><ul>
<li><a href="sys.html"><code>sys</code> — System-specific parameters</a><ul>
  <li><a href="sys.html#sys.argv"><code>argv</code></a></li>
  <li><a href="sys.html#sys.path"><code>path</code></a></li></ul></li>
<li><a href="gc.html"><code>gc</code> — Garbage Collector interface</a></li>
<li><a href="atexit.html"><code>atexit</code> — Exit handlers</a></li>
</ul></div>
<h2>Related<a class="headerlink" href="#related">¶</a></h2>
<ul><li>See <a href="os.html">os</a> for processes</li><li>Ask the platform team</li>
<li><a href="site.html">site</a></li></ul>
<ul><li><a href="a.html">Tutorial</a></li><li><a href="b.html">Reference</a></li></ul>
<h2>Useful links</h2>
<ul><li><a href="https://expenses.example.com">Expense tool</a></li>
<li><a href="https://vpn.example.com/">Burrow VPN portal</a></li>
<li><a href="mailto:it-help@example.com">IT help desk</a></li></ul>
</div></body></html>
"""


def test_html_link_lists_and_permalinks_are_dropped(tmp_path):
    """A table of contents quotes other pages' titles as if they were answers; a list with
    words of its own, of one or two links ("see also"), or of links to other sites
    ("useful links") is content."""
    doc = load_text(tmp_path, "python.html", INDEX_PAGE)
    assert doc.sections == [
        Section(
            (),
            "The modules described in this chapter provide services related to the interpreter.",
        ),
        Section(
            ("Related",),
            "- See os for processes\n\n- Ask the platform team\n\n- site"
            "\n\n- Tutorial\n\n- Reference",
        ),
        Section(("Useful links",), "- Expense tool\n\n- Burrow VPN portal\n\n- IT help desk"),
    ]


def test_html_without_title_tag_takes_the_h1(tmp_path):
    doc = load_text(tmp_path, "page.htm", "<body><h1>Guest wifi</h1><p>Ask reception.</p></body>")
    assert doc.title == "Guest wifi"
    assert doc.sections == [Section((), "Ask reception.")]


def make_pdf(path: Path, pages: list[str], *, title: str = "") -> Path:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(w=0, text=text)
    pdf.output(str(path))
    return path


def test_pdf_has_one_section_per_page(tmp_path):
    path = make_pdf(
        tmp_path / "handbook.pdf",
        ["Everyone gets 26 days of annual leave.", "Pages are answered within 15 minutes."],
        title="Staff handbook",
    )
    doc = load_file(path)

    assert (doc.doc_type, doc.title) == ("pdf", "Staff handbook")
    assert [s.heading_path for s in doc.sections] == [("page 1",), ("page 2",)]
    assert "26 days of annual leave" in doc.sections[0].text
    assert "15 minutes" in doc.sections[1].text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        pytest.param("data.txt", b"ab\x00\x01\x02 text", "binary", id="nul-bytes"),
        pytest.param("empty.md", b"", "empty", id="zero-bytes"),
        pytest.param("blank.txt", b" \n\t\r\n  ", "empty", id="whitespace-only"),
        pytest.param("title-only.md", b"# Just a title\n", "no text", id="no-body"),
        pytest.param("logo.png", b"\x89PNG\r\n\x1a\n", "unsupported file type .png", id="png"),
        pytest.param("README", b"Read me.", "unsupported file type (none)", id="no-suffix"),
        pytest.param("report.pdf", b"Quarterly report, not a PDF", "not a PDF", id="fake-pdf"),
        pytest.param("broken.pdf", b"%PDF-1.4\ngarbage\n", "PDF", id="truncated-pdf"),
    ],
)
def test_files_that_cannot_be_ingested_raise_load_error(tmp_path, name, content, reason):
    path = write(tmp_path, name, content)
    with pytest.raises(LoadError) as excinfo:
        load_file(path)
    assert reason in str(excinfo.value)


def test_missing_file_raises_load_error(tmp_path):
    with pytest.raises(LoadError, match="cannot read"):
        load_file(tmp_path / "gone.md")


def test_content_hash_depends_only_on_the_bytes(tmp_path):
    first = load_text(tmp_path, "a.md", "# A\n\nSame text.\n")
    again = load_file(tmp_path / "a.md")
    copy = load_text(tmp_path, "b.md", "# A\n\nSame text.\n")
    changed = load_text(tmp_path, "c.md", "# A\n\nSame text!\n")

    assert first.content_hash == again.content_hash == copy.content_hash
    assert changed.content_hash != first.content_hash
    assert first.source == str(tmp_path / "a.md")
