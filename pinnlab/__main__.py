"""``python -m pinnlab`` (also what ``torchrun -m pinnlab`` starts): the command line."""

import sys

from pinnlab.cli import main

sys.exit(main())
