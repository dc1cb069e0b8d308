"""Text from web pages and repairs of real-world text: main-text extraction, mojibake, script.

Pure functions over strings, used by the raw reader (corpus_dag.ingest) for records that carry
`html` instead of `text`, and for sources configured with `t2s` or `fix_mojibake`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Page:
    """What extraction made of one page: main text and title, or the reason it yielded nothing."""

    text: str | None = None
    title: str | None = None
    reason: str | None = None


def extract_page(html: str, url: str | None = None) -> Page:
    """Main text and title of an HTML page (trafilatura: boilerplate, menus and comments removed)."""
    import trafilatura  # heavy import: only when a source carries html

    # A bad page is reported once, as its rejected row; trafilatura would also log an ERROR per page.
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    if not html.strip():
        return Page(reason="html_empty")
    try:
        html.encode("utf-8")
    except UnicodeEncodeError:  # lxml silently truncates at a lone surrogate
        return Page(reason="invalid_characters: lone surrogate in html")
    try:
        tree = trafilatura.load_html(html)
        if tree is None:
            return Page(reason="html_unparsable")
        doc = trafilatura.bare_extraction(tree, url=url, with_metadata=True, include_comments=False)
    except (ValueError, TypeError, AttributeError, RecursionError) as e:  # lxml/trafilatura on broken markup
        return Page(reason=f"html_unparsable: {type(e).__name__}")
    text = (doc.text or "").strip() if doc is not None else ""
    if not text:
        return Page(reason="html_no_main_text")
    return Page(text=text, title=doc.title or None)


@cache
def _fix_encoding() -> Callable[[str], str]:
    """ftfy limited to undoing wrong decodings: its defaults would also turn Chinese full-width
    punctuation (，！（）) into ASCII, uncurl quotes and unescape HTML entities in plain text."""
    import ftfy

    cfg = ftfy.TextFixerConfig(
        unescape_html=False,
        fix_latin_ligatures=False,
        fix_character_width=False,
        uncurl_quotes=False,
        fix_line_breaks=False,
        remove_control_chars=False,
        explain=False,
    )
    return lambda s: ftfy.fix_text(s, cfg)


@cache
def _t2s() -> Callable[[str], str]:
    import opencc

    return opencc.OpenCC("t2s").convert


def text_fixer(t2s: bool, fix_mojibake: bool) -> Callable[[str], str] | None:
    """One function applying the repairs a source asks for (None when it asks for none).

    Mojibake is repaired before script conversion: OpenCC needs the real characters to map them.
    """
    steps: list[Callable[[str], str]] = []
    if fix_mojibake:
        steps.append(_fix_encoding())
    if t2s:
        steps.append(_t2s())
    if not steps:
        return None

    def fix(s: str) -> str:
        for step in steps:
            s = step(s)
        return s

    return fix
