"""``python -m workbench`` is the ``workbench`` command."""
from workbench.jobs.cli import main

raise SystemExit(main())
