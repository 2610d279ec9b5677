"""``python -m hpcinv`` is the ``hpcinv`` command (for environments without the entry point)."""

from hpcinv.cli import main

raise SystemExit(main())
