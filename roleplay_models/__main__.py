"""``python -m roleplay_models``: the command line."""

from .cli import main

raise SystemExit(main())
