"""The product catalog (catalog.csv, 308 products) and its search: BM25 from rank-bm25.

Search returns at most one product of each kind, so a query for "hiking"
offers boots, pants and a fleece rather than five colours of one boot.
"""

from __future__ import annotations

import csv
import pathlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from rank_bm25 import BM25Okapi

CATALOG_FILE = pathlib.Path(__file__).with_name("catalog.csv")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "that",
        "the",
        "this",
        "to",
        "up",
        "we",
        "with",
        "you",
        "your",
    ]
)


def words(text: str) -> list[str]:
    """Search terms of `text`: lower-case, hyphenated words whole ("wide-leg"), no stopwords, no plural s."""
    return [_singular(word) for word in _WORD.findall(text.lower()) if word not in STOPWORDS]


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@dataclass(frozen=True)
class Product:
    """One catalog row."""

    id: str
    name: str
    kind: str
    category: str
    description: str

    def line(self) -> str:
        """How the product appears in a prompt."""
        return f"{self.name} ({self.category}): {self.description}"


class Catalog:
    """Products and a BM25 index over their names, kinds, categories and descriptions."""

    def __init__(self, products: Iterable[Product]) -> None:
        self.products = tuple(products)
        documents = [words(f"{p.name} {p.kind} {p.category} {p.description}") for p in self.products]
        self._index = BM25Okapi(documents)

    @classmethod
    def load(cls, path: pathlib.Path = CATALOG_FILE) -> Catalog:
        with path.open(newline="", encoding="utf-8") as rows:
            return cls(Product(**row) for row in csv.DictReader(rows))

    def search(self, query: str, limit: int = 6) -> list[Product]:
        """The best matches for `query`, best first, one per kind; none when no word matches."""
        scores = self._index.get_scores(words(query))
        ranked = sorted(range(len(self.products)), key=lambda i: (-scores[i], i))
        found: dict[str, Product] = {}
        for i in ranked:
            if scores[i] <= 0 or len(found) == limit:
                break
            found.setdefault(self.products[i].kind, self.products[i])
        return list(found.values())


@cache
def catalog() -> Catalog:
    """The catalog of catalog.csv, loaded and indexed once per process."""
    return Catalog.load()
