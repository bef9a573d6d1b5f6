"""``python -m glmmix``: the command line (see :mod:`glmmix.cli`)."""

import sys

from .cli import main

sys.exit(main())
