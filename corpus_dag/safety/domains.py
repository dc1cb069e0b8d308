"""URL/domain blocklist: a document whose `url` host, or any parent domain of it, is listed."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat

import polars as pl

from corpus_dag.safety.lists import ListFile, domain_entries

# Scheme optional ("www.example.com/a" is a URL too); user info and port are not part of the host.
HOST = r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://)?(?:[^/?#@\s]*@)?([^/?#:\s\[\]]+)"


@dataclass(frozen=True)
class DomainBlocklist:
    """Listed domain -> index of the list file that names it first."""

    domains: dict[str, int]
    lists: tuple[str, ...]
    sizes: tuple[int, ...]  # entries per list file (0: an empty list)

    @classmethod
    def load(cls, files: list[ListFile]) -> DomainBlocklist:
        parts = [domain_entries(f).to_list() for f in files]
        domains: dict[str, int] = {}
        for i in reversed(range(len(parts))):  # the first list that names a domain wins
            domains.update(zip(parts[i], repeat(i)))
        return cls(domains, tuple(f.name for f in files), tuple(len(p) for p in parts))

    def __len__(self) -> int:
        return len(self.domains)

    def matches(self, urls: pl.Series) -> list[str | None]:
        """Per URL, the reason detail of its listed host or parent domain, else None."""
        hosts = urls.str.extract(HOST, 1).str.to_lowercase().str.strip_chars_end(".")
        if not self.domains:
            return [None] * urls.len()
        return [self._match(h) if h else None for h in hosts.to_list()]

    def _match(self, host: str) -> str | None:
        domain = host
        while True:
            i = self.domains.get(domain)
            if i is not None:
                return f"{host} matched {domain} in {self.lists[i]}"
            dot = domain.find(".")
            if dot < 0:
                return None
            domain = domain[dot + 1 :]
