"""Raw values as written, with their positions: what the rules read, from YAML or from flags.

yaml_reader.py turns YAML nodes into these; :func:`from_keywords` turns ``xosan deploy``'s
flags into the same tree (no positions), so one set of rules checks both.
"""

from xosan.pool.manifest.model import ALL, FLAG_KEYS

MAP, LIST, SCALAR, NULL = "section", "list", "value", "empty"


class Value(object):
    """A value as written: kind MAP (data: {name: Value}, or None under a leaf key),
    LIST (data: [Value]), SCALAR (data: text) or NULL. ``line``/``column``: where the
    value is; ``key_line``/``key_column``: where its key is (1-based; None for flags)."""

    def __init__(self, key, kind, data, line=None, column=None, key_line=None, key_column=None):
        self.key = key
        self.kind = kind
        self.data = data
        self.line = line
        self.column = column
        self.key_line = line if key_line is None else key_line
        self.key_column = column if key_column is None else key_column

    def blank(self):
        """Written without a value: `key:` alone, or only spaces."""
        return self.kind == NULL or (self.kind == SCALAR and not self.data.strip())


def flag_value(key, value):
    if key == "hosts" and isinstance(value, str) and value.strip().lower() != ALL:
        value = [h for h in value.split(",")] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return Value(key, LIST, [flag_value("%s[%d]" % (key, i), v) for i, v in enumerate(value)])
    if isinstance(value, bool):
        value = str(value).lower()
    return Value(key, SCALAR, str(value))


def from_keywords(kw):
    """The tree of the flags given as from_flags keywords (None = not given)."""
    root = Value("", MAP, {})
    for kw_, key in FLAG_KEYS:
        value = kw.get(kw_)
        if value is None:
            continue
        parts = key.split(".")
        parent = root
        for i, part in enumerate(parts[:-1]):
            if part not in parent.data:
                parent.data[part] = Value(".".join(parts[:i + 1]), MAP, {})
            parent = parent.data[part]
        parent.data[parts[-1]] = flag_value(key, value)
    return root
