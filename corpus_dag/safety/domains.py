"""URL/domain blocklist: a document whose `url` host, or any parent domain of it, is listed.

A million-entry list is held as sorted 64-bit hashes of its domains (polars' hash, one vectorized
pass) rather than a Python set: building a set of a million str objects costs seconds on its
own. A URL's host and parent domains are hashed the same way and looked up with a binary search;
a hit is confirmed against the listed string, so a hash collision cannot block a document.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from corpus_dag.safety.lists import ListFile, domain_entries

# Scheme optional ("www.example.com/a" is a URL too); user info and port are not part of the host.
HOST = r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://)?(?:[^/?#@\s]*@)?([^/?#:\s\[\]]+)"
SEED = 20261202


def _hash(values: pl.Series) -> np.ndarray:
    return values.hash(seed=SEED).to_numpy()


@dataclass(frozen=True)
class DomainBlocklist:
    """Listed domains sorted by hash, the list each came from first, and the list files."""

    hashes: np.ndarray  # uint64, sorted, unique
    domains: pl.Series  # the domain of each hash
    list_of: np.ndarray  # index into `lists` of the first list naming the domain
    lists: tuple[str, ...]
    sizes: tuple[int, ...]  # entries per list file (0: an empty list)

    @classmethod
    def load(cls, files: list[ListFile]) -> DomainBlocklist:
        parts = [domain_entries(f) for f in files]
        domains = pl.concat(parts) if parts else pl.Series("entry", [], dtype=pl.String)
        which = np.repeat(np.arange(len(parts), dtype=np.int64), [p.len() for p in parts])
        hashes = _hash(domains)
        order = np.lexsort((which, hashes))  # by hash, then by list: the first list wins
        hashes, which = hashes[order], which[order]
        first = np.ones(hashes.size, np.bool_)
        first[1:] = hashes[1:] != hashes[:-1]
        keep = order[first]
        return cls(hashes[first], domains.gather(keep), which[first], tuple(f.name for f in files), tuple(p.len() for p in parts))

    def __len__(self) -> int:
        return int(self.hashes.size)

    def matches(self, urls: pl.Series) -> list[str | None]:
        """Per URL, the reason detail of its listed host or parent domain (the longest), else None."""
        hosts = urls.str.extract(HOST, 1).str.to_lowercase().str.strip_chars_end(".").to_list()
        out: list[str | None] = [None] * len(hosts)
        if not self.hashes.size:
            return out
        rows, candidates = [], []
        for i, host in enumerate(hosts):
            labels = host.split(".") if host else []
            for k in range(len(labels)):
                rows.append(i)
                candidates.append(".".join(labels[k:]))
        if not candidates:
            return out
        hashes = _hash(pl.Series(candidates, dtype=pl.String))
        at = np.minimum(np.searchsorted(self.hashes, hashes), self.hashes.size - 1)
        for j in np.flatnonzero(self.hashes[at] == hashes).tolist():
            i, domain = rows[j], candidates[j]
            if out[i] is None and self.domains[int(at[j])] == domain:
                out[i] = f"{hosts[i]} matched {domain} in {self.lists[int(self.list_of[at[j]])]}"
        return out
