"""Next-edit suggestions: edit history from didChange, model-free and model predictors.

``service.NextEditService`` is the entry point (built by ``Services``); ``features/next_edit.py``
speaks the protocol (``textDocument/copilotInlineEdit``).
"""
