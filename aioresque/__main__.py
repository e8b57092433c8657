"""``python -m aioresque``: see :mod:`aioresque._cli`."""

import sys

from ._cli import main

sys.exit(main())
