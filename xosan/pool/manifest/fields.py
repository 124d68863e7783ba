"""Typed settings read from raw values (YAML or flags), and where an error about one points.

:class:`Fields` is what the rules stand on: ``get`` a key, read it as ``text``, ``choice``,
``integer`` or ``size``, or ``fail`` about it. A failure points at the value's line and
column (or its key's), or for a missing key at the nearest section written above it; for
flags it names the flag. The phrasing is wording.py's.
"""

import difflib
import re

from xosan.pool.manifest.model import ALL, ManifestError, base_key, parent_key
from xosan.pool.manifest.sizes import format_size, size_value
from xosan.pool.manifest.values import LIST, MAP, SCALAR
from xosan.pool.manifest.wording import Wording, capitalized

_INTEGER = re.compile(r"[0-9]+\Z")
# Longer than any setting (a path included): refused before any rule reads it, so that no
# message quotes a pasted megabyte and no number is built from thousands of digits (Python
# 3.11 refuses int() of more than 4300 digits with a ValueError, not our error).
MAX_TEXT = 4096
_DIGITS = 18  # more significant digits than that: out of every range a key has


def cut(text, limit=60):
    # type: (str, int) -> str
    """A bad value as a message quotes it: whole when short, else its start and its length."""
    if len(text) <= limit:
        return text
    return "%s... (%d characters)" % (text[:limit], len(text))


class Fields(object):
    """The raw values ``root`` of a manifest from ``source`` (``flags``: from flags);
    ``base_dir``: the manifest's folder (relative paths), None for flags and strings."""

    def __init__(self, source, root, flags, base_dir=None):
        self.source = source
        self.root = root
        self.flags = flags
        self.base_dir = base_dir
        self.words = Wording(flags, lambda key: self.get(key) is not None)
        self.locations = {}
        if not flags:
            self._collect(root)

    def _collect(self, value):
        if value.key:  # a section or list: where its name is; a value: where the value is
            self.locations[value.key] = ((value.key_line, value.key_column)
                                         if value.kind in (MAP, LIST) else (value.line, value.column))
        if value.kind == MAP and value.data:
            for child in value.data.values():
                self._collect(child)
        elif value.kind == LIST and value.data:
            for child in value.data:
                self._collect(child)

    # -- lookups and failures

    def get(self, key):
        value = self.root
        for part in key.split("."):
            if value is None or value.kind != MAP or not value.data:
                return None
            value = value.data.get(part)
        return value

    def fail(self, key, problem, hint, at=None):
        """Raise about ``key``; the position is the value's (``at``="key": its key's), or for
        a missing key the nearest section written above it."""
        line = column = None
        if not self.flags:
            value = self.get(base_key(key)) if "[" not in key else None
            if value is None and "[" in key:
                base = self.get(base_key(key))
                index = int(key[key.rindex("[") + 1:-1])
                value = base.data[index] if base is not None and base.data else None
            if value is not None:
                if at == "key" or value.kind in (MAP, LIST):
                    line, column = value.key_line, value.key_column
                else:
                    line, column = value.line, value.column
            else:
                probe = key
                while value is None and probe:
                    probe = parent_key(probe)
                    value = self.get(probe) if probe else None
                value = value or self.root
                line, column = value.key_line, value.key_column
        hint = capitalized(hint)
        raise ManifestError(self.words.key(key), "%s %s" % (self.words.name(key), problem), hint,
                            self.source, line, column)

    def text(self, key, default=None, optional=False):
        """The text of ``key``, or ``default`` when not written. An empty value (`key:`) counts
        as not written for ``optional`` keys and is an error for keys with a default."""
        value = self.get(key)
        if value is None:
            return default
        if value.blank():
            if optional:
                return None
            self.fail(key, "has no value",
                      "write %s, or delete the line for the default%s" % (
                          self.words.example(key),
                          " (%s)" % default if default is not None else ""))
        if value.kind != SCALAR:
            self.fail(key, "takes one value, not a %s" % ("list" if value.kind == LIST else "section"),
                      "write e.g. %s" % self.words.example(key))
        text = value.data.strip()
        if len(text) > MAX_TEXT:
            self.fail(key, "is `%s...`: %d characters, more than any setting takes (%d)" % (
                text[:40], len(text), MAX_TEXT), "write e.g. %s" % self.words.example(key))
        return text

    def choice(self, key, default, choices):
        text = self.text(key, default)
        if text.lower() in choices:
            return text.lower()
        close = difflib.get_close_matches(text.lower(), choices, n=1, cutoff=0.6)
        self.fail(key, "is `%s`, not one of %s" % (cut(text), ", ".join(choices)),
                  "write %s" % self.words.setting(key, close[0] if close else default))

    def integer(self, key, default, low, high, optional=False):
        text = self.text(key, default if default is None else str(default), optional=optional)
        if text is None:
            return None
        if _INTEGER.match(text):
            digits = text.lstrip("0") or "0"
            if len(digits) <= _DIGITS and low <= int(digits) <= high:
                return int(digits)
            problem = "is %s, out of the range %d to %d" % (cut(text), low, high)
        else:
            problem = "is `%s`, not a whole number from %d to %d" % (cut(text), low, high)
        self.fail(key, problem, "write e.g. %s" % self.words.example(key))

    def size(self, key, default, low=None, high=None, allow_all=False):
        value = self.get(key)
        if value is None:
            return default
        text = self.text(key, format_size(default) if isinstance(default, int) else default)
        result, problem = size_value(text, allow_all)
        if problem:
            hint = problem[1] if "," in text else "write e.g. %s%s (units K, M, G, T: powers of 1024)" % (
                self.words.example(key), " or %s" % self.words.setting(key, ALL) if allow_all else "")
            self.fail(key, problem[0], hint)
        if result != ALL:
            if low is not None and result < low:
                self.fail(key, "is %s, below the minimum %s" % (cut(text), format_size(low)),
                          "write at least %s" % self.words.setting(key, format_size(low)))
            if high is not None and result > high:
                self.fail(key, "is %s, above the maximum %s" % (cut(text), format_size(high)),
                          "write at most %s" % self.words.setting(key, format_size(high)))
        return result

    def not_allowed(self, key, why, hint):
        """``key`` must not be written here (an empty value counts as not written)."""
        value = self.get(key)
        if value is None or value.blank():
            return
        self.fail(key, why, hint, at="key")
