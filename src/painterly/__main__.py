from painterly.cli.main import main

raise SystemExit(main())
