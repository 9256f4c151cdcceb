"""Subcommands beyond the schema and stack ones; each registers itself in REGISTRY."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Registrar = Callable[[argparse._SubParsersAction], None]  # type: ignore[type-arg]

REGISTRY: list[Registrar] = []
