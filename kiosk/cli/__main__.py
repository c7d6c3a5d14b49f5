"""`python -m kiosk.cli`: the same commands as `kiosk`."""

import sys

from kiosk.cli import main

sys.exit(main())
