"""Text from outside (a payload, a field of one, a detail naming it) made safe to print or log.

Everything elflow prints or logs that may come from a payload goes through `escape`: control
characters (ESC, NUL, CR, LF, TAB, DEL, the C1 range), lone surrogates and invisible format
characters (bidi overrides, zero-width marks, line separators) become visible escapes, so a
payload can neither drive the terminal nor fake a line of output. Printable text, Danish letters
included, is left as it is.
"""

from __future__ import annotations

from typing import Final

_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(value: str | bytes, limit: int | None = None) -> str:
    """One line of printable text; bytes are read as UTF-8 (invalid bytes shown as \\xNN).

    With `limit`, at most that many characters of the input are kept and the rest is counted
    (`…(+1234 chars)`), so a huge field never fills a log line."""
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    cut = ""
    if limit is not None and len(text) > limit:
        cut = f"…(+{len(text) - limit} chars)"
        text = text[:limit]
    if not (text.isascii() and text.isprintable()):
        text = "".join(c if c.isprintable() else _escape_char(c) for c in text)
    return text + cut
