"""Sizes as a manifest writes them: "500G", "1.5T", "10GiB", "4096B", and back.

Pure text <-> bytes; the messages say what is wrong with a text, the callers add the key.
"""

import re
from fractions import Fraction

KiB = 1024
MiB = 1024 ** 2
GiB = 1024 ** 3
TiB = 1024 ** 4
UNITS = (("T", TiB), ("G", GiB), ("M", MiB), ("K", KiB))

ALL = "all"

_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(?:([KMGT])(?:I?B)?|(B))?\Z", re.IGNORECASE)
# More digits than any disk has bytes: refused before Fraction() (Python 3.11's int() refuses
# more than 4300 digits with a ValueError, not a message).
_MAX_DIGITS = 30


def _cut(text, limit=60):
    return text if len(text) <= limit else "%s... (%d characters)" % (text[:limit], len(text))


def size_value(text, allow_all=False):
    """(bytes or ALL, None) or (None, (problem, hint))."""
    example = "write e.g. 500G, 1.5T or 10GiB (units K, M, G, T: powers of 1024)"
    if not isinstance(text, str):
        return None, ("is %r, not a size text" % (text,), example)
    stripped = text.strip()
    if stripped.lower() == ALL:
        if allow_all:
            return ALL, None
        return None, ("is `all`, which is not allowed here", example)
    match = _SIZE.match(stripped)
    if not match:
        if re.match(r"^[0-9]+,[0-9]+", stripped):
            return None, ("is `%s`, not a size" % _cut(stripped),
                          "write the decimals after a dot: %s" % _cut(stripped.replace(",", ".", 1)))
        return None, ("is `%s`, not a size" % _cut(stripped), example)
    number, unit, plain_bytes = match.groups()
    whole, _, decimals = number.partition(".")
    if len(whole.lstrip("0")) + len(decimals.rstrip("0")) > _MAX_DIGITS:
        return None, ("is `%s`, more digits than any size has" % _cut(stripped), example)
    if unit is None and plain_bytes is None:
        return None, ("is `%s`: the unit is missing" % stripped,
                      "write %sG (or K, M, T; powers of 1024)" % number)
    factor = 1 if unit is None else dict(UNITS)[unit.upper()]
    return int(Fraction(number) * factor), None


def format_size(n):
    # type: (int) -> str
    """The shortest size text that parse_size reads back exactly: 1.5T, 10G, 512M, 4096B."""
    if n == 0:
        return "0G"
    for unit, factor in UNITS:
        if n >= factor:
            if n % factor == 0:
                return "%d%s" % (n // factor, unit)
            for digits in (1, 2):
                text = "%.*f" % (digits, float(n) / factor)
                if Fraction(text) * factor == n:
                    return text.rstrip("0").rstrip(".") + unit
    return "%dB" % n
