"""The text each index reads: identifiers split for BM25, query terms, the texts a chunk is
embedded as, and the content hashes that key stored vectors.

BM25 sees every compound identifier next to its parts (``getHTTPResponse`` also as ``get http
response``), so a natural-language query finds ``get_http_response``; queries drop stopwords.
The embedding texts of a chunk (``embed_texts``) are hashed with its content (``content_hash``):
a chunk whose texts did not change never re-embeds, wherever it moved.
"""

from __future__ import annotations

import functools
import hashlib
import re

from mimi_lsp.index.chunker import Chunk

# ------------------------------------------------------------------------------------------
# Text for BM25: identifiers split (camelCase, snake_case) next to the whole identifier

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be by for from has have how i if in into is it its of on or that the "
    "this to was we were what when where which who why will with do does did can should would "
    "there their them then than these those our you your all any".split()
)


def split_identifier(token: str) -> list[str]:
    """``getHTTPResponse_code`` -> ``['get', 'http', 'response', 'code']``."""
    return list(_split_cached(token))


@functools.lru_cache(maxsize=1 << 16)
def _split_cached(token: str) -> tuple[str, ...]:
    parts: list[str] = []
    for piece in token.split("_"):
        if piece:
            parts += [p.lower() for p in _CAMEL.findall(piece)]
    return tuple(parts)


def fts_text(text: str) -> str:
    """``text`` plus the parts of its compound identifiers, for the FTS5 index."""
    extra: dict[str, None] = {}
    # In a fixed order: a row is deleted from FTS5 with the text it was inserted with.
    for token in dict.fromkeys(_IDENT.findall(text)):
        parts = _split_cached(token)
        if len(parts) > 1:
            extra.update(dict.fromkeys(parts))
    return text + "\n" + " ".join(extra) if extra else text


def query_terms(query: str) -> list[str]:
    """Lower-case search terms of a natural-language or identifier query (no stopwords)."""
    terms: dict[str, None] = {}
    for token in re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+", query):
        lowered = token.lower()
        parts = split_identifier(token)
        if len(parts) > 1 or "_" in token:
            terms[lowered] = None
        for part in parts or [lowered]:
            if part not in STOPWORDS and len(part) > 1:
                terms[part] = None
    if not terms:
        for token in re.findall(r"\w+", query.lower()):
            terms[token] = None
    return list(terms)


def quote_term(term: str) -> str:
    """``term`` as an FTS5 string (never read as an operator)."""
    return '"' + term.replace('"', '""') + '"'


def fts_query(query: str) -> str | None:
    """An FTS5 OR query for ``query`` (None when it has no usable term)."""
    terms = query_terms(query)[:32]
    return " OR ".join(map(quote_term, terms)) if terms else None


def path_words(rel: str) -> str:
    """A path's parts as words (``src/http_client.py`` -> ``src http_client py``)."""
    return " ".join(re.split(r"[/\\.\-]+", rel))


# ------------------------------------------------------------------------------------------
# Text for the embedding model

HEAD_CHARS = 400
"""Code embedded per chunk: MiniLM reads 256 word pieces at most, and a short head scored better
than the whole chunk in the eval (a signature plus ~10 lines carries what the chunk is for)."""


def embed_header(rel: str, symbol: str | None, kind: str, container: str | None) -> str:
    """``path kind Container.name``: where the code lives and what it defines."""
    if not symbol:
        return rel
    return f"{rel} {kind} {container}.{symbol}" if container else f"{rel} {kind} {symbol}"


def _head(text: str, limit: int = HEAD_CHARS) -> str:
    out: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        if out and size + len(line) > limit:
            break
        out.append(line)
        size += len(line)
    return "".join(out)[: limit * 2]


def embed_texts(
    rel: str, text: str, symbol: str | None, kind: str, container: str | None, signature: str | None
) -> list[str]:
    """The texts a chunk is embedded as; its dense score is the max and mean of their cosines.

    The header plus the name's words and the definitions' signatures (a short, name-heavy text
    that matches "what does this do" questions well), and the header plus the head of the code.
    In the eval this pair beat one vector of the whole chunk by ~0.05 MRR@10.
    """
    header = embed_header(rel, symbol, kind, container)
    texts = []
    if signature:
        # The name's words as well ("get member" for getmember): +0.014 dense MRR@10.
        words = " ".join(split_identifier(symbol or ""))
        texts.append(f"{header} ({words})\n{signature}" if words else f"{header}\n{signature}")
    texts.append(f"{header}\n{_head(text)}")
    return texts


def embed_text(rel: str, chunk: Chunk) -> str:
    """All texts of a chunk in one string (what its content hash covers)."""
    return "\n\x1f".join(
        embed_texts(rel, chunk.text, chunk.symbol, chunk.kind, chunk.container, chunk.signature)
    )


def content_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def bytes_hash(data: bytes) -> str:
    """Hash of a file's raw contents (the key that decides whether to re-chunk)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
