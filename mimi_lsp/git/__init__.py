"""Git for the assistant: commit messages written from the diff (``message.py``), the
repository through the real ``git`` binary (``repo.py``), diffs fitted to a model's budget
(``diff.py``) and a repository's commit style (``style.py``). LSP-free."""
