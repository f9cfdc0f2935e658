"""`python -m convtrack.cli`: the `convtrack` command."""

import sys

from . import main

sys.exit(main())
