"""Blocklist files: one entry a line, `#` starts a comment, gzip by name (.gz) or magic bytes.

Files are parsed as one polars column (a million-line domain list loads in about a second), and
a bad file is an error naming the file and the line: a list that silently lost entries would
let through exactly what it was meant to stop. An empty list is allowed (callers report it).
"""
from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass

import polars as pl

# A host name: dot-separated labels of letters (any script), digits, '-' or '_'; a label neither
# starts nor ends with '-' and has at most 63 characters (two simple patterns: counted repetition
# over Unicode classes makes the regex engine 100x slower on a million lines).
DOMAIN = r"^[\p{L}\p{N}_-]+(?:\.[\p{L}\p{N}_-]+)*$"
BAD_LABEL = r"(?:^|\.)-|-(?:\.|$)|[^.]{64}"
HOSTS_PREFIX = r"^(?:0\.0\.0\.0|127\.0\.0\.1)\s+"  # hosts-file lines: "0.0.0.0 ads.example.com"
MAX_WORD_CHARS = 64
CONTROL = r"[\p{Cc}\p{Co}\x{FFFD}]"


class ListError(ValueError):
    """A blocklist file is missing, unreadable or has a malformed line."""


@dataclass(frozen=True)
class ListFile:
    """One list's bytes and the name errors and reasons call it by (its path)."""

    name: str
    data: bytes


def _text(f: ListFile) -> str:
    data = f.data
    if f.name.endswith(".gz") or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise ListError(f"{f.name}: not a readable gzip file: {e}") from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ListError(f"{f.name}:{line}: not UTF-8 (byte {data[e.start]:#04x})") from e


def entries(f: ListFile) -> pl.DataFrame:
    """`line` (1-based) and `entry` of every non-empty line, comments and surrounding space removed."""
    lines = pl.DataFrame({"entry": _text(f).split("\n")}, schema={"entry": pl.String})
    return (
        lines.with_row_index("line", offset=1)
        .with_columns(pl.col("entry").str.replace(r"#.*$", "").str.strip_chars())
        .filter(pl.col("entry").str.len_bytes() > 0)
    )


def _first_bad(rows: pl.DataFrame, bad: pl.Expr, f: ListFile, what: str) -> None:
    wrong = rows.filter(bad).head(1)
    if wrong.height:
        line, entry = wrong.row(0)
        raise ListError(f"{f.name}:{line}: {entry!r} is not {what}")


def domain_entries(f: ListFile) -> pl.Series:
    """The domains of a list file, lower-cased, without hosts-file prefixes, `*.` or a final dot."""
    rows = entries(f).with_columns(
        pl.col("entry").str.to_lowercase().str.replace(HOSTS_PREFIX, "").str.replace(r"^\*?\.", "").str.strip_chars_end(".")
    )
    bad = ~pl.col("entry").str.contains(DOMAIN) | pl.col("entry").str.contains(BAD_LABEL)
    _first_bad(rows, bad, f, "a domain (one host name a line, '#' comments)")
    return rows["entry"]


def word_entries(f: ListFile) -> pl.Series:
    """The words (or phrases) of a list file, NFKC-normalised and lower-cased like the text they match."""
    rows = entries(f).with_columns(pl.col("entry").str.normalize("NFKC").str.to_lowercase())
    _first_bad(
        rows,
        pl.col("entry").str.contains(CONTROL) | (pl.col("entry").str.len_chars() > MAX_WORD_CHARS),
        f,
        f"a word or phrase (printable, at most {MAX_WORD_CHARS} characters)",
    )
    return rows["entry"]
