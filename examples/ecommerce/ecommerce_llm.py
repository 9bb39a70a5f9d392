"""The model behind the e-commerce prompt: any OpenAI-compatible endpoint, or an offline local text model.

With `MOTION_LLM_BASE_URL` or `MOTION_LLM_API_KEY` set, prompts go to that
endpoint (`MOTION_LLM_MODEL`, default gpt-4o-mini) through the official
`openai` package's async client, streaming. With neither, they go to
`LocalTextModel`: no LLM at all, but a small deterministic program that does
real text work on the prompt (it extracts and ranks key phrases, keeps the
ones a summary already had, and picks catalog products by the words they
share with the request), so the example runs offline and its output can be
checked.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from functools import cache
from typing import Protocol

#: The line of a recommendation prompt after which the catalog products are listed, one "- " line each.
CATALOG_MARK = "using the catalog:"
#: The label of the summary a summarization prompt asks to revise.
CURRENT_SUMMARY = "Current summary"
DEFAULT_MODEL = "gpt-4o-mini"


class TextModel(Protocol):
    """What the component needs of a model: a name to show and a token stream for a prompt."""

    name: str

    def stream(self, prompt: str) -> AsyncIterator[str]: ...


async def complete(model: TextModel, prompt: str) -> str:
    """The whole answer to `prompt` (streamed, then joined)."""
    return "".join([token async for token in model.stream(prompt)])


class OpenAIChat:
    """An OpenAI-compatible chat completions endpoint, streamed with the official async client."""

    def __init__(self, base_url: str | None, model: str, api_key: str | None) -> None:
        from openai import AsyncOpenAI  # imported here: the offline model needs no openai package

        # An OpenAI-compatible local server (vLLM, llama.cpp, Ollama) often wants no key, but the client needs one.
        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key or "not-needed")
        self.model = model
        self.name = f"{model} at {base_url or 'the OpenAI API'}"

    async def stream(self, prompt: str) -> AsyncIterator[str]:
        chunks = await self._client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": prompt}], stream=True
        )
        async for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content


class LocalTextModel:
    """Offline and deterministic, and not a language model: it answers the example's two kinds of prompt.

    A recommendation prompt (one with a catalog) gets the three listed
    products that share the most words with the occasion and the shopper's
    summaries, leaving out what the shopper disliked. A summarization prompt
    ("Label: text" lines after an instruction line) gets, for each label,
    its key phrases ranked by RAKE (rapid automatic keyword extraction),
    newest first, followed by those the current summary already had.
    """

    name = "local text model (offline, deterministic; not an LLM: set MOTION_LLM_BASE_URL for one)"

    async def stream(self, prompt: str) -> AsyncIterator[str]:
        for token in re.findall(r"\S+\s*", self.answer(prompt)):
            yield token

    def answer(self, prompt: str) -> str:
        return recommend(prompt) if CATALOG_MARK in prompt else summarize(prompt)


def model_from_env(environ: Mapping[str, str] = os.environ) -> TextModel:
    """The endpoint the environment configures, else the local text model."""
    base_url, api_key = environ.get("MOTION_LLM_BASE_URL"), environ.get("MOTION_LLM_API_KEY")
    if not base_url and not api_key:
        return LocalTextModel()
    return OpenAIChat(base_url or None, environ.get("MOTION_LLM_MODEL") or DEFAULT_MODEL, api_key)


@cache
def model() -> TextModel:
    """This process's model, made on first use (the async client belongs to the loop that first uses it)."""
    return model_from_env()


# --- the local text model's work -------------------------------------------------------------------

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "after",
        "again",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "him",
        "his",
        "how",
        "i",
        "i'm",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "not",
        "now",
        "of",
        "on",
        "or",
        "our",
        "out",
        "over",
        "she",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "too",
        "under",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "will",
        "with",
        "would",
        "yet",
        "you",
        "your",
    ]
)
_PUNCTUATION = re.compile(r"[.,;:!?()\[\]\"]")
_SENTENCE = re.compile(r"([A-Z][\w ]*?): ([^.]*)\.")


def key_phrases(text: str) -> list[str]:
    """RAKE: phrases are runs of words between stopwords and punctuation, ranked by word degree / frequency."""
    phrases: list[list[str]] = []
    for fragment in _PUNCTUATION.split(text):
        run: list[str] = []
        for word in fragment.split():
            if word.lower() in STOPWORDS:
                run = _flush(run, phrases)
            else:
                run.append(word)
        _flush(run, phrases)
    frequency = Counter(word.lower() for phrase in phrases for word in phrase)
    degree = Counter({w.lower(): 0 for p in phrases for w in p})
    for phrase in phrases:
        for word in phrase:
            degree[word.lower()] += len(phrase)
    scores = {" ".join(p): sum(degree[w.lower()] / frequency[w.lower()] for w in p) for p in phrases}
    return sorted(scores, key=lambda phrase: -scores[phrase])


def _flush(run: list[str], phrases: list[list[str]]) -> list[str]:
    if run:
        phrases.append(run)
    return []


def _labelled_lines(prompt: str) -> list[tuple[str, str]]:
    """The "Label: text" lines after the instruction line."""
    lines = prompt.strip().splitlines()[1:]
    return [
        (label.strip(), text.strip()) for label, _, text in (line.partition(":") for line in lines) if text
    ]


def summarize(prompt: str, per_label: int = 8) -> str:
    """Key phrases per label: new ones first, then the current summary's, without repeats across labels."""
    groups: dict[str, list[str]] = {}
    lines = _labelled_lines(prompt)
    for label, text in lines:
        if label != CURRENT_SUMMARY:
            groups.setdefault(label, []).extend(key_phrases(text))
    seen = {phrase.lower() for phrases in groups.values() for phrase in phrases}
    current = " ".join(text for label, text in lines if label == CURRENT_SUMMARY)
    for label, text in _SENTENCE.findall(current):
        kept = [p.strip() for p in text.split(";") if p.strip() and p.strip().lower() not in seen]
        groups.setdefault(label, []).extend(kept)
    return " ".join(
        f"{label}: {'; '.join(_unique(phrases)[:per_label])}." for label, phrases in groups.items()
    )


def _unique(phrases: list[str]) -> list[str]:
    return list({phrase.lower(): phrase for phrase in reversed(phrases)}.values())[::-1]


def _terms(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower()) if w not in STOPWORDS}


def recommend(prompt: str, count: int = 3) -> str:
    """The `count` listed products sharing the most words with the request, none the shopper disliked."""
    head, _, listing = prompt.partition(CATALOG_MARK)
    occasion = head.rsplit(" for ", 1)[-1].strip().rstrip(",")
    disliked = [
        _terms(item) for items in re.findall(r"Disliked: ([^.]*)\.", head) for item in items.split(";")
    ]
    lines = [line[2:] for line in listing.splitlines() if line.startswith("- ")]
    wanted, for_occasion = _terms(head) - set().union(*disliked), _terms(occasion)

    def score(line: str) -> int:
        return len(_terms(line) & wanted) + len(_terms(line) & for_occasion)

    names = [line.split(" (", 1)[0] for line in sorted(lines, key=lambda line: -score(line))]
    best = [name for name in names if not any(d and d <= _terms(name) for d in disliked)][:count]
    if not best:
        return f"Nothing in the catalog fits {occasion}, sorry."
    return f"For {occasion}, I suggest: {'; '.join(best)}."
