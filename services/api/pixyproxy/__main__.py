from pixyproxy.cli import main

raise SystemExit(main())
