"""Split Articles into Chunks: sentence-aware, with overlap, ids derived from content.

LangChain's RecursiveCharacterTextSplitter tries paragraph breaks first, then sentence ends, then
clause breaks, and only then words; sentence punctuation stays with its sentence.
"""

from __future__ import annotations

import hashlib

from qa.types import Article, Chunk

# Paragraphs, lines, then sentence ends (Latin and CJK), then clauses, then words.
SEPARATORS = ["\n\n", "\n", ". ", "! ", "? ", "» ", "。", "; ", ", ", " ", ""]


def chunk_id(article: Article, position: int, text: str) -> str:
    """Stable id: the same article content always gives the same ids; any change gives new ones."""
    key = f"{article.article_id}\x1f{article.content_hash}\x1f{position}\x1f{text}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


class Chunker:
    """Splits article text into overlapping, sentence-aligned chunks."""

    def __init__(self, chunk_size: int = 700, chunk_overlap: int = 120, splitter: str = "sentences") -> None:
        if chunk_overlap >= chunk_size:
            raise ValueError(f"chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size})")
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        if splitter == "tutorial":  # RecursiveCharacterTextSplitter as the LangChain tutorial uses it
            self._splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        else:
            self._splitter = RecursiveCharacterTextSplitter(
                chunk_size=chunk_size,
                chunk_overlap=chunk_overlap,
                separators=SEPARATORS,
                keep_separator="end",
                strip_whitespace=True,
            )

    def split(self, article: Article) -> list[Chunk]:
        pieces = [p for p in self._splitter.split_text(article.text) if p.strip()]
        digest = article.content_hash
        return [
            Chunk(
                chunk_id=chunk_id(article, i, text),
                article_id=article.article_id,
                text=text,
                position=i,
                title=article.title,
                source=article.source,
                published=article.published,
                language=article.language,
                url=article.url,
                article_hash=digest,
            )
            for i, text in enumerate(pieces)
        ]
