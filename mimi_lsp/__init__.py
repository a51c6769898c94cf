"""mimi-lsp: a self-hosted AI coding assistant as one language server."""

__version__ = "0.1.0"
