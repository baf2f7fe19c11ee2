from tui_insert.cli import main

raise SystemExit(main())
