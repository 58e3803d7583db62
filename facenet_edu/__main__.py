"""``python -m facenet_edu``: the command-line interface (see ``facenet_edu.cli``)."""

import sys

from .cli import main

sys.exit(main())
