"""``python -m symgrad``: the same command as ``symgrad``."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
