"""``mimi-lsp web``: the bundled Monaco IDE in the browser.

``app.py`` serves the page, the folder's files and a WebSocket per tab; ``bridge.py`` connects
each WebSocket to a language server process of its own; ``auth.py`` requires the token;
``workspace_files.py`` keeps every file operation inside the folder; ``bundle.py`` knows where
the built page lives. The page itself is ``editors/monaco-web``.
"""
