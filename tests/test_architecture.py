"""The layer rule of docs/architecture.md, checked on the code's own imports.

A rule that lives only in a document drifts; this test reads every module's imports
(statically, with ast: nothing is imported or run) and fails naming the file, the
line and the import that breaks the rule.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Layer -> the layers its modules may import (besides their own). The base modules
# (xosan, xosan.errors, xosan.proc, xosan.facts) may be imported by everyone.
BASE = ("xosan", "xosan.errors", "xosan.proc", "xosan.facts")
ALLOWED = {
    "base": (),
    "xosan.gluster": (),
    "xosan.sr": ("xosan.gluster",),
    "xosan.pool": ("xosan.gluster",),
    "xosan.plugin": ("xosan.gluster", "xosan.sr"),
    "xosan.metrics": ("xosan.gluster",),
    "xosan.alerts": ("xosan.gluster", "xosan.sr", "xosan.plugin", "xosan.metrics"),
    "xosan.cli": ("xosan.gluster", "xosan.pool"),
    "drivers": ("xosan.gluster", "xosan.sr"),
}
# Base modules among themselves: errors imports nothing of ours, proc only errors, facts nothing.
BASE_ALLOWED = {"xosan.errors": (), "xosan.facts": (), "xosan.proc": ("xosan.errors",), "xosan": ()}


def _module_name(path):
    rel = os.path.relpath(path, ROOT)
    if rel.startswith("drivers" + os.sep):
        return "drivers." + os.path.basename(rel).replace(".py", "").replace("-", "_")
    mod = rel[:-3].replace(os.sep, ".") if rel.endswith(".py") else rel.replace(os.sep, ".")
    return mod[:-len(".__init__")] if mod.endswith(".__init__") else mod


def _layer(mod):
    if mod == "xosan.__main__":
        return "xosan.cli"  # `python -m xosan` is the command
    if mod in BASE:
        return "base"
    for layer in ALLOWED:
        if layer != "base" and (mod == layer or mod.startswith(layer + ".")):
            return layer
    if mod.startswith("xosan_lab"):
        return "lab"
    raise AssertionError("module %s belongs to no layer of docs/architecture.md" % mod)


def _sources():
    found = []
    for top in ("xosan", "xosan_lab"):
        for dirpath, dirnames, files in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            found += [os.path.join(dirpath, f) for f in files if f.endswith(".py")]
    found += [os.path.join(ROOT, "drivers", f) for f in ("XOSANSR.py", "xosan-gc")]
    found.append(os.path.join(ROOT, "plugins", "xosan"))
    return sorted(found)


def _imports(path):
    """(line, module imported, names taken from it) for each import of our own packages."""
    tree = ast.parse(open(path).read(), path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append((node.lineno, alias.name, ()))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = tuple(a.name for a in node.names)
            # `from xosan.gluster import health` imports the module xosan.gluster.health
            subs = [node.module + "." + n for n in names]
            out.append((node.lineno, node.module, names))
            out += [(node.lineno, s, ()) for s in subs if _is_module(s)]
    return [(line, mod, names) for line, mod, names in out if mod == "xosan" or mod.startswith(("xosan.", "xosan_lab"))]


def _is_module(mod):
    base = os.path.join(ROOT, *mod.split("."))
    return os.path.isfile(base + ".py") or os.path.isfile(os.path.join(base, "__init__.py"))


SOURCES = _sources()


def _rel(path):
    return os.path.relpath(path, ROOT)


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_imports_follow_the_layers(path):
    me = _module_name(path) if not path.endswith(os.path.join("plugins", "xosan")) else "xosan.plugin"
    layer = _layer(me)
    if layer == "lab":
        return  # the lab may use anything; nothing may use the lab (below)
    bad = []
    for line, mod, _ in _imports(path):
        if not _is_module(mod) and mod != "xosan":
            continue  # a name, counted through its module
        theirs = _layer(mod)
        if theirs == "lab":
            bad.append((line, mod, "the lab is never imported by what ships"))
        elif layer == "base":
            if mod not in BASE_ALLOWED[me] and mod != me:
                bad.append((line, mod, "base modules import only %s" % (BASE_ALLOWED[me] or "nothing of ours",)))
        elif theirs not in ("base", layer) and theirs not in ALLOWED[layer]:
            others = ", ".join(ALLOWED[layer]) or "itself"
            bad.append((line, mod, "%s may import only the base and %s" % (layer, others)))
    assert not bad, "\n".join("%s:%d imports %s: %s" % (_rel(path), line, mod, why) for line, mod, why in bad)


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_no_module_takes_another_modules_private_names(path):
    mine = _module_name(path)
    taken = [(line, mod, n) for line, mod, names in _imports(path) for n in names
             if n.startswith("_") and not n.startswith("__") and mod != mine]
    assert not taken, "\n".join("%s:%d takes %s from %s: make it public in one module, or keep it inside"
                                % (_rel(path), line, n, mod) for line, mod, n in taken)


def test_the_rule_catches_a_breach(tmp_path):
    """The checker itself: an SR module importing the orchestration layer is reported."""
    fake = tmp_path / "x.py"
    fake.write_text("from xosan.pool import deploy\nfrom xosan.gluster import health\n")
    found = [mod for _, mod, _ in _imports(str(fake))]
    assert "xosan.pool.deploy" in found and "xosan.gluster.health" in found
    assert _layer("xosan.pool.deploy") == "xosan.pool"
    assert "xosan.pool" not in ALLOWED["xosan.sr"]
