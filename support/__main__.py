from support.cli import main

raise SystemExit(main())
