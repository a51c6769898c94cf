from mimi_lsp.cli import main

raise SystemExit(main())
