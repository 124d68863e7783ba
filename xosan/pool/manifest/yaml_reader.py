"""The manifest's YAML, read with positions.

``yaml.compose`` (SafeLoader: nothing is constructed) gives nodes that keep their line and
column and their text as written (``name: 2024`` or ``sr: no`` are names, not numbers or
booleans); :func:`read` turns them into the raw values rules.py checks. It raises
ManifestError, with the line and column, on YAML syntax errors and on duplicate, unknown
and misplaced keys, in file order.
"""

import difflib

import yaml

from xosan.pool.manifest.model import SCHEMA, ManifestError, join_key
from xosan.pool.manifest.values import LIST, MAP, NULL, SCALAR, Value
from xosan.pool.manifest.wording import EXAMPLES

_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _pos(mark):
    return mark.line + 1, mark.column + 1


def _leaf_names():
    names = {}
    for section, keys in SCHEMA:
        if keys:
            for name, _ in keys:
                names.setdefault(name, []).append(join_key(section, name))
    return names


_SYNTAX_HINTS = (
    ("found character '\\t'", "Indent with spaces: YAML does not allow tabs"),
    ("expected a single document", "A manifest is one YAML document: remove the second `---`"),
    ("mapping values are not allowed", "Check the indentation of this line, and put values that "
                                       "contain `: ` in quotes, e.g. `name: \"a: b\"`"),
    ("could not find expected ':'", "Every line of a section is `key: value` (a space after the "
                                    "colon); check for a missing `:` or an unclosed quote"),
    ("expected <block end>", "Check the indentation: the keys of one section start in the same "
                             "column, under the section name and further right"),
    ("undefined alias", "Define the anchor (`&name`) before using it (`*name`)"),
    ("found unexpected end of stream", "Close the quote or bracket that is still open"),
)
_SYNTAX_HINT = ("Check the indentation (spaces only) and put values in quotes when they contain "
                "`: ` or ` #`, or start with `{`, `[`, `*`, `&`, `!`, `%`, `@` or a backquote")


# A manifest nests three levels (section, key, list); PyYAML's composer recurses once per
# level, so a few thousand `[` ended in RecursionError, a traceback instead of a message.
MAX_DEPTH = 20
_OPEN = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
         yaml.FlowSequenceStartToken)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _check_depth(text, source):
    """Refuse nesting deeper than MAX_DEPTH where it happens, with the scanner (no recursion);
    a syntax error is left to compose, which words it."""
    depth = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, _OPEN):
                depth += 1
                if depth > MAX_DEPTH:
                    line, column = _pos(token.start_mark)
                    raise ManifestError(None, "the manifest nests lists or sections %d levels deep here"
                                              % depth,
                                        "A manifest has sections of `key: value` lines and lists of "
                                        "names, nothing deeper (examples/xosan.yaml)", source, line, column)
            elif isinstance(token, _CLOSE):
                depth -= 1
    except yaml.YAMLError:
        return


def read(text, source):
    """The raw values of the manifest ``text`` (``source`` names it in errors)."""
    _check_depth(text, source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        message = "YAML syntax error: %s" % problem
        if exc.context and exc.problem and exc.context_mark is not None:
            where = "line %d, column %d" % (exc.context_mark.line + 1, exc.context_mark.column + 1)
            if problem.startswith("but "):  # "expected a single document ..., but found another"
                message = "YAML syntax error: %s (%s), %s" % (exc.context, where, problem)
            else:
                message += " (%s at %s)" % (exc.context, where)
        hint = _SYNTAX_HINT
        for needle, specific in _SYNTAX_HINTS:
            if needle in str(exc):
                hint = specific
                break
        line, column = _pos(mark) if mark is not None else (None, None)
        raise ManifestError(None, message, hint, source, line, column) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise ManifestError(None, "the manifest contains the character %r, which YAML does not "
                                  "allow" % exc.character,
                            "Remove it (control characters are not allowed; use UTF-8 text)",
                            source, line, column) from None
    except yaml.YAMLError as exc:
        raise ManifestError(None, "YAML error: %s" % exc, _SYNTAX_HINT, source) from None
    reader = _NodeReader(source)
    if node is None:
        root = Value("", MAP, {}, 1, 1)
    else:
        if not isinstance(node, yaml.MappingNode):
            line, column = _pos(node.start_mark)
            raise ManifestError(None, "the manifest is %s, not a set of `key: value` lines" % (
                "a list" if isinstance(node, yaml.SequenceNode) else "a single value"),
                "Start from examples/xosan.yaml: `pool:`, `hosts:`, `network:`, ... each at the "
                "start of a line", source, line, column)
        root = reader.section(node, "", SCHEMA, None)
    return root


class _NodeReader(object):
    """YAML nodes -> _Values; raises on duplicate, unknown and misplaced keys, in file order."""

    def __init__(self, source):
        self.source = source

    def fail(self, key, message, hint, line, column):
        raise ManifestError(key, message, hint, self.source, line, column)

    def section(self, node, key, schema, key_mark):
        line, column = _pos(node.start_mark)
        key_line, key_column = _pos(key_mark) if key_mark is not None else (line, column)
        if isinstance(node, yaml.ScalarNode) and (node.tag == _NULL_TAG or not node.value.strip()):
            return Value(key, MAP, {}, line, column, key_line, key_column)  # `vm:` alone: empty
        if not isinstance(node, yaml.MappingNode):
            first = schema[0][0]
            self.fail(key, "`%s` is a section, not %s" % (
                key, "a list" if isinstance(node, yaml.SequenceNode) else "a value"),
                "Write its keys on the lines below it, indented, e.g. `%s:` then `  %s: %s`" % (
                    key, first, EXAMPLES[join_key(key, first)]), line, column)
        names = dict(schema)
        data = {}
        seen = {}
        for key_node, value_node in node.value:
            kline, kcol = _pos(key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(key or None, "a key in %s is a %s; keys are plain names" % (
                    "`%s`" % key if key else "the manifest",
                    "list" if isinstance(key_node, yaml.SequenceNode) else "section"),
                    "Write `name: value`", kline, kcol)
            name = key_node.value
            path = join_key(key, name)
            if key_node.tag == _MERGE_TAG:
                self.fail(path, "merge key `%s` is not supported in the manifest" % path,
                          "Write the keys out", kline, kcol)
            if name in seen:
                self.fail(path, "duplicate key `%s` (first at line %d)" % (path, seen[name]),
                          "Keep one `%s:` line%s: YAML would silently use the last one" % (
                              name, " in `%s:`" % key if key else ""), kline, kcol)
            seen[name] = kline
            if name.strip().lower() in ("password", "passwd", "pass"):
                self.fail(path, "`%s`: a password never goes in the manifest" % path,
                          "Put it in a file only root can read, e.g. /root/.xosan-password (chmod "
                          "600), and write `password-file: /root/.xosan-password` under `pool:`; or "
                          "leave both out and xosan deploy asks for it", kline, kcol)
            if name not in names:
                self.fail(path, "unknown key `%s`" % path, self.suggest(key, name, schema), kline, kcol)
            sub = names[name]
            if sub is None:
                data[name] = self.leaf(value_node, path, key_node.start_mark)
            else:
                data[name] = self.section(value_node, path, sub, key_node.start_mark)
        return Value(key, MAP, data, line, column, key_line, key_column)

    def leaf(self, node, key, key_mark):
        line, column = _pos(node.start_mark)
        key_line, key_column = _pos(key_mark) if key_mark is not None else (line, column)
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _NULL_TAG:
                return Value(key, NULL, None, line, column, key_line, key_column)
            return Value(key, SCALAR, node.value, line, column, key_line, key_column)
        if isinstance(node, yaml.SequenceNode) and key_mark is not None:
            items = [self.leaf(child, "%s[%d]" % (key, i), None) for i, child in enumerate(node.value)]
            return Value(key, LIST, items, line, column, key_line, key_column)
        kind = LIST if isinstance(node, yaml.SequenceNode) else MAP
        return Value(key, kind, None, line, column, key_line, key_column)

    @staticmethod
    def suggest(section, name, schema):
        names = [n for n, _ in schema]
        where = "in `%s:`" % section if section else "at the top level"
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        if not close and name.lower() in names:
            close = [name.lower()]
        if close:
            extra = " (keys are lower case, with `-` between words)" if (
                close[0] == name.lower().replace("_", "-") and close[0] != name) else ""
            return "Did you mean `%s`?%s" % (close[0], extra)
        elsewhere = _leaf_names().get(name.lower().replace("_", "-"))
        if elsewhere:
            return "Did you mean `%s`? Put `%s:` under `%s:`" % (
                elsewhere[0], elsewhere[0].split(".")[1], elsewhere[0].split(".")[0])
        return "Valid keys %s: %s" % (where, ", ".join(names))

