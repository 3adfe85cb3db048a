"""``python -m local.stack up|down|status|clean|…`` — see ``local.stack.control``."""

import sys

from local.stack.control import main

sys.exit(main())
