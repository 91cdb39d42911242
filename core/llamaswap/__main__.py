"""``python -m llamaswap``: the same command line as the ``llamaswap`` script."""

from llamaswap.cli import main

raise SystemExit(main())
