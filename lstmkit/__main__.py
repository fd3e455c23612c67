"""`python -m lstmkit ...` is the `lstmkit` command (torchrun starts the ranks of `--nproc` this way)."""

import sys

from .cli import main

sys.exit(main())
