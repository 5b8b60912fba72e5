"""``python -m bench.cli``: the same command as ``chanbench``."""

import sys

from bench.cli import main

sys.exit(main())
