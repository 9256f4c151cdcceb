"""The one redaction of secrets in text meant for people (errors, logs). No I/O.

`redact` hides the password of every connection-string form elflow accepts and every
password-like setting of a Kafka configuration:

- URL user info: `postgresql://user:secret@host/db` (also with an unencoded `@`, `:` or space
  in the password: everything up to the last `@` of the line is the password);
- URL query string: `?password=secret`, `&password=secret`;
- libpq key=value: `password=secret`, `password = 'sec ret'`, `password='it\\'s'`;
- Kafka settings in text, JSON or a Python mapping's repr: `sasl.password=…`,
  `"ssl.key.password": "…"`, `'sasl.password': '…'`, and any other key naming a password,
  passphrase or secret.

`secret_fragments(conninfo)` lists the password of a connection string and its pieces, for
messages that echo part of a string they could not parse (libpq's `missing "=" after "…"`);
`redact(text, secrets=…)` hides those too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "***"

# A key that names a secret: password, passwd, passphrase, secret (with any prefix such as
# `sasl.`, `ssl.key.`, `PG`, `client_`).
_SECRET_KEY = r"[A-Za-z0-9_.\-]*(?:password|passwd|passphrase|secret)[A-Za-z0-9_.\-]*"

# scheme://user:password@host — the password runs to the last `@` of the line (an unencoded
# `@`, `:` or space in a password is not the end of it; masking too much is the safe side).
_URL_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#]*:)[^\n]*@")

# ?password=… / &password=… inside a URL: the value ends at `&`, `#` or white space.
_QUERY_PARAM = re.compile(rf"(?P<head>[?&]{_SECRET_KEY}=)[^&#\s'\"]*", re.IGNORECASE)

# "key": "value" / 'key': 'value' (JSON, Python repr) and key=value / key: value (libpq,
# librdkafka, logs). A quoted value may contain escaped quotes; an unquoted one ends at white
# space, a comma or a closing bracket.
_KEY_VALUE = re.compile(
    rf"""(?P<head>(?<![?&\w.\-])(?P<q>["']?)\b{_SECRET_KEY}(?P=q)\s*[:=]\s*)
         (?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,}}\])]+)""",
    re.IGNORECASE | re.VERBOSE,
)

_NEXT_KEY = re.compile(r"\s+[A-Za-z_][A-Za-z0-9_.\-]*\s*=")
_FRAGMENT_SPLIT = re.compile(r"[\s@:/?&=#'\"]+")
# Pieces shorter than this are not hidden on their own (they would mask ordinary words).
_MIN_FRAGMENT = 3


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every password and secret replaced by ***; `secrets` are hidden too."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    text = _QUERY_PARAM.sub(lambda m: f"{m.group('head')}{MASK}", text)
    return _KEY_VALUE.sub(lambda m: f"{m.group('head')}{MASK}", text)


def redact_config(config: Mapping[str, object]) -> dict[str, object]:
    """A copy of a settings mapping (e.g. librdkafka's) with secret values replaced by ***
    and every other string value redacted (a URL in it may carry a password)."""
    pattern = re.compile(_SECRET_KEY, re.IGNORECASE)
    return {
        key: MASK
        if pattern.fullmatch(key)
        else (redact(value) if isinstance(value, str) else value)
        for key, value in config.items()
    }


def secret_fragments(conninfo: str) -> list[str]:
    """The password of a connection string (URL or key=value) and its pieces, as they could
    appear in a parser's error about the string."""
    found: list[str] = []
    url = _URL_USERINFO.search(conninfo)
    if url:
        start = url.end("head")
        found.append(conninfo[start : url.end() - 1])
    for match in _QUERY_PARAM.finditer(conninfo):
        found.append(conninfo[match.end("head") : match.end()])
    for match in _KEY_VALUE.finditer(conninfo):
        value = conninfo[match.end("head") : match.end()]
        found.append(value)
        # An unquoted password with a space: libpq reads the words after it as keys and names
        # one in its error, so the words up to the next key=value are secret too.
        rest = _NEXT_KEY.split(conninfo[match.end() :], maxsplit=1)[0]
        if rest.strip():
            found.append(value + rest.rstrip())
    pieces = [p for f in found for p in _FRAGMENT_SPLIT.split(f) if len(p) >= _MIN_FRAGMENT]
    return [f for f in found if f] + pieces
