"""The hybrid code index: tree-sitter chunks, SQLite FTS5 + sqlite-vec, incremental, multi-root.

Flow: ``ignore`` decides which files, ``chunker`` cuts them along the syntax, ``indexer``
writes them to one ``store`` per workspace folder, ``embedder`` fills in vectors in the
background, and ``service`` (``IndexService``) answers search, symbols and completion context,
ranking with ``search`` (fusion) and the open-buffer ``pool``. Nothing here imports pygls.
"""
