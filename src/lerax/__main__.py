"""``python -m lerax``: the command line."""

from lerax.cli import main

raise SystemExit(main())
