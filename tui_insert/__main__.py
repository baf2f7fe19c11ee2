from tui_insert.entry import main

raise SystemExit(main())
