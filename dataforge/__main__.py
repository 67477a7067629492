"""``python -m dataforge``."""

import sys

from dataforge.cli import main

sys.exit(main())
