"""The lab dom0's /usr/bin/systemctl: the part of systemd the SM framework's GC uses.

PID 1 here is not systemd, so a lab dom0 (xosan_lab/dom0.py) gets this instead. It reads
units the way systemd does: the unit file from /etc/systemd/system, /run/systemd/system,
/usr/lib/systemd/system (first found; a template serves its instances), drop-ins from
``<unit>.d`` of the instance and of the template in all three (same file name: the higher
priority folder wins; applied in file-name order), an empty ``ExecStart=`` clearing the list,
%i / %I specifiers. Like systemd it keeps what it loaded until ``daemon-reload``: a drop-in
written without a reload is not seen, so code that forgets the reload fails here too.

Commands: start [--no-block] UNIT (a oneshot: runs ExecStart; --no-block in the background),
is-active UNIT, show [--property=P] UNIT (ExecStart, DropInPaths, ActiveState), daemon-reload,
list-units PATTERN. Runs and their output are kept in the state folder (``journal``).
"""

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import time

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system")
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def unescape(instance):
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), instance)


def _names(unit):
    """The unit and, for an instance, its template (SMGC@x.service -> SMGC@.service)."""
    if "@" in unit:
        prefix, rest = unit.split("@", 1)
        suffix = rest[rest.rindex("."):]
        return unit, "%s@%s" % (prefix, suffix), rest[:rest.rindex(".")]
    return unit, None, ""


def load(unit, dirs=UNIT_DIRS):
    """The unit's ExecStart list and drop-in paths, as systemd would load them now."""
    name, template, inst = _names(unit)
    path = None
    for d in dirs:
        for candidate in (name, template):
            if candidate and os.path.isfile(os.path.join(d, candidate)):
                path = os.path.join(d, candidate)
                break
        if path:
            break
    if path is None:
        return None
    dropins = {}
    for d in reversed(dirs):  # lower priority first: a same-named file of a higher one replaces it
        for candidate in (template, name):
            folder = os.path.join(d, (candidate or "") + ".d")
            if candidate and os.path.isdir(folder):
                for f in os.listdir(folder):
                    if f.endswith(".conf"):
                        dropins[f] = os.path.join(folder, f)
    files = [path] + [dropins[f] for f in sorted(dropins)]
    execs = []
    for f in files:
        section = None
        with open(f) as fh:
            for line in fh:
                line = line.strip()
                if not line or line[0] in "#;":
                    continue
                if line.startswith("["):
                    section = line.strip("[]")
                    continue
                if section == "Service" and line.startswith("ExecStart="):
                    value = line[len("ExecStart="):].strip()
                    if not value:
                        execs = []
                    else:
                        execs.append(value.replace("%I", unescape(inst)).replace("%i", inst))
    return {"path": path, "dropins": [dropins[f] for f in sorted(dropins)], "exec": execs}


class Systemd(object):
    def __init__(self, state_dir, dirs=UNIT_DIRS):
        self.state_dir = state_dir
        self.dirs = dirs
        os.makedirs(state_dir, exist_ok=True)
        self.cache_file = os.path.join(state_dir, "loaded.json")

    def _cache(self):
        try:
            with open(self.cache_file) as fh:
                return json.load(fh)
        except (IOError, ValueError):
            return {}

    def unit(self, name):
        cache = self._cache()
        if name not in cache:
            loaded = load(name, self.dirs)
            if loaded is None:
                return None
            cache[name] = loaded
            with open(self.cache_file + ".tmp", "w") as fh:
                json.dump(cache, fh)
            os.rename(self.cache_file + ".tmp", self.cache_file)
        return cache[name]

    def daemon_reload(self):
        if os.path.exists(self.cache_file):
            os.unlink(self.cache_file)

    def _pidfile(self, name):
        return os.path.join(self.state_dir, name + ".pid")

    def active(self, name):
        try:
            with open(self._pidfile(name)) as fh:
                pid = int(fh.read())
        except (IOError, ValueError):
            return "inactive"
        try:
            os.kill(pid, 0)
        except OSError:
            return "inactive"
        with open("/proc/%d/stat" % pid) as fh:
            if fh.read().split()[2] == "Z":
                return "inactive"
        return "activating"

    def start(self, name, block):
        unit = self.unit(name)
        if unit is None:
            sys.stderr.write("Failed to start %s: Unit %s not found.\n" % (name, name))
            return 5
        if self.active(name) == "activating":
            return 0  # a oneshot already starting: systemd queues nothing more
        journal = open(os.path.join(self.state_dir, "journal"), "a")
        journal.write("%s start %s: %s\n" % (time.strftime("%H:%M:%S"), name, unit["exec"]))
        journal.flush()
        child = subprocess.Popen(["sh", "-c", "exec 0</dev/null; " + _chain(unit["exec"])], stdout=journal,
                                 stderr=journal, env={"PATH": SERVICE_PATH, "LANG": "C.UTF-8"},
                                 cwd="/", start_new_session=True)
        with open(self._pidfile(name), "w") as fh:
            fh.write(str(child.pid))
        if not block:
            return 0
        rc = child.wait()
        journal.write("%s %s exited %s\n" % (time.strftime("%H:%M:%S"), name, rc))
        return 0 if rc == 0 else 1

    def show(self, name, props):
        unit = self.unit(name) or {"exec": [], "dropins": []}
        out = []
        for p in props or ("ExecStart", "DropInPaths", "ActiveState"):
            if p == "ExecStart":
                for e in unit["exec"]:
                    argv = shlex.split(e)
                    out.append("ExecStart={ path=%s ; argv[]=%s ; }" % (argv[0], " ".join(argv)))
            elif p == "DropInPaths":
                out.append("DropInPaths=" + " ".join(unit["dropins"]))
            elif p == "ActiveState":
                out.append("ActiveState=" + self.active(name))
        return "\n".join(out)

    def list_units(self, pattern):
        names = [f[:-4] for f in os.listdir(self.state_dir) if f.endswith(".pid")]
        return [n for n in names if fnmatch.fnmatch(n, pattern)]


def _chain(execs):
    return " && ".join(execs) if execs else "true"


def main(argv):
    args = list(argv)
    state = "/run/lab-systemd"
    if args[:1] == ["--state"]:
        state, args = args[1], args[2:]
    block, quiet, props, words = True, False, [], []
    for a in args:
        if a == "--no-block":
            block = False
        elif a in ("--quiet", "-q", "--value", "--all", "--no-legend"):
            quiet = quiet or a in ("--quiet", "-q")
        elif a.startswith("--property="):
            props += a.split("=", 1)[1].split(",")
        else:
            words.append(a)
    sd = Systemd(state)
    if not words:
        sys.stderr.write("systemctl (lab): no command\n")
        return 1
    cmd, units = words[0], words[1:]
    if cmd == "daemon-reload":
        sd.daemon_reload()
        return 0
    if cmd == "start":
        return max([sd.start(u if "." in u else u + ".service", block) for u in units] or [0])
    if cmd == "is-active":
        states = [sd.active(u if "." in u else u + ".service") for u in units]
        if not quiet:
            print("\n".join(states))
        return 0 if all(s == "activating" for s in states) else 3
    if cmd == "show":
        print(sd.show(units[0] if "." in units[0] else units[0] + ".service", props))
        return 0
    if cmd == "list-units":
        for u in sd.list_units(units[0] if units else "*"):
            print("%s loaded %s" % (u, sd.active(u)))
        return 0
    sys.stderr.write("systemctl (lab): %s is not simulated here\n" % cmd)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
