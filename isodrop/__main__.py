"""`python3 -m isodrop` is the `isodrop` command."""

import sys

from isodrop.cli import main

sys.exit(main())
