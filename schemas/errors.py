"""The base of the errors elflow shows to an operator as one line."""

from __future__ import annotations


class ElflowError(Exception):
    """A failure whose message is one line meant for a person (an operator, a finance clerk).

    The CLI prints it as `elflow: <message>` and exits with 2; it never carries a traceback or
    a secret. Subclasses are named for what went wrong (a bad setting, a settlement that cannot
    run, an export path that cannot be written, …).
    """
