"""The hybrid code index: tree-sitter chunks, SQLite FTS5 BM25 + vectors, incremental, multi-root.

Flow: ``ignore`` decides which files, ``chunker`` cuts them along the syntax, ``indexer``
writes them to one ``store`` per workspace folder (``database``: connections, schema, recovery;
``text``: what BM25 and the embedder read; ``fts``: BM25 queries; ``vectors``: the coarse bit
index and dense scores; ``cache_dir``: where the files live). ``service`` (``IndexService``)
is the facade: ``workers`` scan and embed in the background, ``search`` answers ``mimi.search``
and ``workspace/symbol`` (fusion in ``ranking``, hit ranges and names in ``hits``), ``context``
gives completion context with the open-buffer ``pool``, ``status`` tells listeners. Embedders
come from ``inference.factory.create_embedder``. Nothing here imports pygls.
"""
