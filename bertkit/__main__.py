"""`python -m bertkit ...` (and `torchrun -m bertkit pretrain ...`) run the CLI."""

import sys

from bertkit.cli import main

sys.exit(main())
