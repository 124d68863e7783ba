"""A dom0 on this machine, for running the REAL XCP-ng SM framework and the driver.

The framework hard-codes dom0's paths: /opt/xensource/sm (the drivers, cleanup.py),
/etc/xensource-inventory (this host's uuid), xapi at /var/lib/xcp/xapi (a unix socket),
SMlog through syslog (/dev/log), /usr/bin/systemctl for GC, /var/run/sr-mount, /var/lock/sm,
/run/nonpersistent. Rather than bend it with variables, each lab dom0 is a private mount
namespace in which those paths are this dom0's own:

- /run is a fresh tmpfs (as after a boot); /tmp stays the machine's, where tests keep the
  trees they hand a dom0; /etc, /var/lib, /var/log, /dev, /opt,
  /usr/lib/systemd/system and /usr/lib/ssl are overlays whose upper layers live in this dom0's folder, so
  nothing is written to the machine's own;
- /opt/xensource/sm is the framework tree (``sm_dir``: ../shared/vendor/xcp-ng-sm/drivers,
  or $XOSAN_SM_DIR) with the driver files laid next to it as the RPM lays them;
- /var/lib/xcp/xapi and /dev/log are bind mounts of unix sockets the caller serves (the
  XAPI simulator, a syslog receiver writing ``SMlog``);
- /usr/bin/systemctl is the lab's systemd stand-in (xosan_lab/systemctl.py: PID 1 here is
  not systemd) and /usr/bin/python3 runs dom0's Python, 3.6, with what dom0's site-packages
  hold: XenAPI, the xosan package, the sm package's libraries, and xapi's XenAPIPlugin
  (xosan_lab/xapi_host: xapi is not here, so its module is the lab's);
- /etc/xapi.d/plugins/xosan is the host plugin, as the RPM installs it.

A holder process keeps the namespace alive between driver calls, so FUSE mounts made by one
call are there for the next one, as on a real host. Its network is the machine's unless
``netns`` names a network namespace (a lab host's storage address).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.dom.minidom

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SM_DIR = "/opt/xensource/sm"
DRIVER_FILES = (("drivers/XOSANSR.py", "XOSANSR.py"), ("drivers/xosan-gc", "xosan-gc"))
# /usr/lib/ssl: where this machine's GlusterFS reads management TLS files (the host plugin writes them)
OVERLAID = ("/etc", "/var/lib", "/var/log", "/dev", "/opt", "/usr/lib/systemd/system", "/usr/lib/ssl")
SYSTEMD_STATE = "/run/lab-systemd"  # the systemctl stand-in's units loaded, runs, journal
XAPI_HOST = os.path.join(ROOT, "xosan_lab", "xapi_host")
PLUGINS = (("plugins/xosan", "xosan"),)
DOM0_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def vendor_dir():
    """The pinned dom0 software beside the project (../shared/vendor), or $XOSAN_VENDOR."""
    return os.environ.get("XOSAN_VENDOR") or os.path.join(os.path.dirname(ROOT), "shared", "vendor")


def real_sm_dir():
    """The real framework's drivers folder: $XOSAN_SM_DIR (e.g. /opt/xensource/sm of a real host
    copied here) or ../shared/vendor/xcp-ng-sm/drivers. None when neither exists."""
    path = os.environ.get("XOSAN_SM_DIR") or os.path.join(vendor_dir(), "xcp-ng-sm", "drivers")
    return path if os.path.isfile(os.path.join(path, "SRCommand.py")) else None


def sm_error_codes(sm_dir):
    """name -> (code, description) from the framework's own XE_SR_ERRORCODES.xml: what xapi shows an
    admin for an SR error, so tests check our errors against it, not against a copy."""
    doc = xml.dom.minidom.parse(os.path.join(sm_dir, "XE_SR_ERRORCODES.xml"))
    codes = {}
    for node in doc.getElementsByTagName("code"):
        field = dict((c.tagName, c.firstChild.data.strip()) for c in node.childNodes
                     if c.nodeType == c.ELEMENT_NODE and c.firstChild is not None)
        codes[field["name"]] = (int(field["value"]), field["description"])
    return codes


def sm_libraries(sm_dir):
    """The sm package's own libraries beside its drivers (sm_typing, fairlock): the RPM puts them in
    site-packages, a source tree keeps them here, so whoever runs the framework adds them to the path."""
    sm_tree = os.path.dirname(sm_dir)
    return [p for p in (sm_tree, os.path.join(sm_tree, "misc", "fairlock")) if os.path.isdir(p)]


NO_SM_DIR = ("the lab runs XCP-ng's real SM framework, and it is not here: put XCP-ng 8.3's sm tree at "
             "../shared/vendor/xcp-ng-sm (xcp-ng/sm, branch 3.2.12-8.3) or set XOSAN_SM_DIR=/path/to/sm/drivers")


def require_sm_dir():
    path = real_sm_dir()
    if path is None:
        raise RuntimeError(NO_SM_DIR)
    return path


def dom0_python():
    """dom0's interpreter: Python 3.6 with XenAPI and bitarray (`make venv` builds .venv/py36)."""
    path = os.environ.get("XOSAN_DOM0_PYTHON") or os.path.join(ROOT, ".venv", "py36", "bin", "python")
    if not os.path.exists(path):
        raise RuntimeError("dom0's Python is missing (%s): `make venv` builds it" % path)
    return path


class SyslogReceiver(object):
    """What rsyslog does for SM on dom0: datagrams on a unix socket appended to SMlog."""

    def __init__(self, sock_path, log_path):
        self.sock_path = sock_path
        self.log_path = log_path
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(sock_path)
        self.sock.settimeout(0.5)
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, name="syslog", daemon=True)
        self.thread.start()

    def _loop(self):
        with open(self.log_path, "a") as out:
            while not self.stopped:
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                line = data.decode("utf-8", "replace").rstrip("\n\0")
                if line.startswith("<") and ">" in line[:5]:
                    line = line[line.index(">") + 1:]
                out.write(line + "\n")
                out.flush()

    def stop(self):
        self.stopped = True
        self.thread.join(2)
        self.sock.close()


class Dom0(object):
    """One lab dom0 (see the module docstring). ``sm_dir``: the framework's drivers folder."""

    def __init__(self, workdir, host_uuid, xapi_socket, sm_dir=None, python=None, netns=None, name="dom0",
                 sm_files=None, plugins=None, site_packages=None):
        """``xapi_socket``: a unix socket serving XAPI, or None for a host whose xapi is down.
        ``sm_files`` / ``plugins``: (source, name) pairs laid in /opt/xensource/sm and
        /etc/xapi.d/plugins (default: the repository's, as the RPM installs them);
        ``site_packages``: where the xosan package is (default: the repository)."""
        self.root = os.path.abspath(workdir)
        self.host_uuid = host_uuid
        self.sm_dir = os.path.abspath(sm_dir or require_sm_dir())
        self.xapi_socket = xapi_socket
        self.python = python or dom0_python()
        self.sm_files = [(os.path.join(ROOT, s), d) for s, d in DRIVER_FILES] if sm_files is None else sm_files
        self.plugins = [(os.path.join(ROOT, s), d) for s, d in PLUGINS] if plugins is None else plugins
        self.site_packages = site_packages or ROOT
        self.netns = netns
        self.name = name
        self.holder = None
        self.syslog = None
        self.smlog = os.path.join(self.root, "SMlog")

    # -- life cycle -------------------------------------------------------------------------------

    def up(self):
        if os.geteuid() != 0:
            raise RuntimeError("a lab dom0 needs root (mount namespaces)")
        if os.path.isdir(self.root):
            shutil.rmtree(self.root)
        for sub in ("up", "work", "sm-up", "sm-work", "systemd-state"):
            os.makedirs(os.path.join(self.root, sub))
        self._lay_files()
        self.syslog = SyslogReceiver(os.path.join(self.root, "log.sock"), self.smlog)
        script = self._setup_script()
        prefix = ["nsenter", "--net=/var/run/netns/%s" % self.netns] if self.netns else []
        self.holder = subprocess.Popen(prefix + ["unshare", "--mount", "--propagation", "private", "sh", "-ec",
                                                 script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       universal_newlines=True)
        ready = os.path.join(self.root, "ready")
        deadline = time.monotonic() + 20
        while not os.path.exists(ready):
            if self.holder.poll() is not None or time.monotonic() > deadline:
                out, err = self.holder.communicate(timeout=5) if self.holder.poll() is not None else ("", "")
                self.down()
                raise RuntimeError("lab dom0 %s did not come up: %s%s" % (self.name, out, err))
            time.sleep(0.02)
        with open(os.path.join(self.root, "holder.pid"), "w") as fh:
            fh.write(str(self.holder.pid))
        return self

    def _lay_files(self):
        up = os.path.join(self.root, "up")

        def put(path, text, mode=0o644):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as fh:
                fh.write(text)
            os.chmod(path, mode)

        put(os.path.join(up, "etc", "xensource-inventory"),
            "PRIMARY_DISK='/dev/sda'\nINSTALLATION_UUID='%s'\nCONTROL_DOMAIN_UUID='%s'\n"
            "BUILD_NUMBER='lab'\nPRODUCT_BRAND='XCP-ng'\nPRODUCT_VERSION='8.3.0'\n"
            % (self.host_uuid, self.host_uuid))
        for d in OVERLAID:
            os.makedirs(os.path.join(up, d.lstrip("/")), exist_ok=True)
            os.makedirs(os.path.join(self.root, "work", d.lstrip("/")), exist_ok=True)
        os.makedirs(os.path.join(up, "var/lib/xcp"), exist_ok=True)
        put(os.path.join(up, "var/lib/xcp/xapi"), "")
        put(os.path.join(up, "dev/log"), "")
        os.makedirs(os.path.join(up, "opt/xensource/sm"), exist_ok=True)
        os.makedirs(os.path.join(up, "var/log/glusterfs"), exist_ok=True)
        # The sm package's GC unit, where its RPM puts it.
        unit = os.path.join(os.path.dirname(self.sm_dir), "systemd", "SMGC@.service")
        if os.path.isfile(unit):
            shutil.copy(unit, os.path.join(up, "usr/lib/systemd/system", "SMGC@.service"))
        # The driver files, as rpm/xosan.spec installs them (dom0's python3 in the shebang).
        sm_up = os.path.join(self.root, "sm-up")
        for folder, files in ((sm_up, self.sm_files), (os.path.join(up, "etc/xapi.d/plugins"), self.plugins)):
            for src, dst in files:
                with open(src) as fh:
                    lines = fh.read().split("\n")
                lines[0] = "#!/usr/bin/python3"
                put(os.path.join(folder, dst), "\n".join(lines), 0o755)
        if not os.path.lexists(os.path.join(sm_up, "XOSANSR")):
            os.symlink("XOSANSR.py", os.path.join(sm_up, "XOSANSR"))
        # dom0's python3 (3.6) with the xosan package and the sm package's libraries on its path.
        # (the sm RPM puts sm_typing and fairlock in site-packages; here they stay in its tree).
        pythonpath = [self.site_packages, XAPI_HOST] + sm_libraries(self.sm_dir)
        put(os.path.join(self.root, "python3"),
            "#!/bin/sh\nPYTHONPATH=%s${PYTHONPATH:+:$PYTHONPATH} exec %s \"$@\"\n"
            % (":".join(pythonpath), self.python), 0o755)
        put(os.path.join(self.root, "systemctl"),
            "#!/bin/sh\nPYTHONPATH=%s exec %s -m xosan_lab.systemctl --state %s \"$@\"\n"
            % (ROOT, sys.executable, SYSTEMD_STATE), 0o755)

    def _setup_script(self):
        # This dom0's folder (and xapi's socket) may lie under a folder about to be overlaid
        # (/var/lib/xosan-lab): reach them through binds under the fresh /run, made first.
        r = "/run/lab-dom0"
        up, work = r + "/up", r + "/work"
        # A new mount namespace starts with copies of this machine's mounts; copies of other
        # labs' FUSE mounts would keep their clients alive after those labs unmount.
        lines = ["awk '$3 ~ /^fuse/ {print $2}' /proc/self/mounts | sort -r | "
                 "while read -r mp; do umount -l \"$mp\" || true; done",
                 "mount -t tmpfs -o mode=0755 tmpfs /run",
                 "mkdir -p /run/lock /run/sr-mount /run/systemd/system /run/nonpersistent %s %s" % (SYSTEMD_STATE, r),
                 "mount --bind %s %s" % (self.root, r),
                 # the stand-in's journal stays readable after the dom0 is gone
                 "mount --bind %s/systemd-state %s" % (r, SYSTEMD_STATE)]
        if self.xapi_socket:
            lines += ["touch /run/lab-xapi", "mount --bind %s /run/lab-xapi" % self.xapi_socket]
        for path in OVERLAID:
            lines.append("mount -t overlay overlay -o lowerdir=%s,upperdir=%s%s,workdir=%s%s %s"
                         % (path, up, path, work, path, path))
        lines += ["mount -t overlay overlay -o lowerdir=%s,upperdir=%s/sm-up,workdir=%s/sm-work %s"
                  % (self.sm_dir, r, r, SM_DIR),
                  # no xapi: the placeholder stays, a plain file nobody answers on
                  "mount --bind /run/lab-xapi /var/lib/xcp/xapi" if self.xapi_socket else "true",
                  "mount --bind %s/log.sock /dev/log" % r,
                  "mount --bind %s/systemctl /usr/bin/systemctl" % r,
                  "mount --bind %s/python3 /usr/bin/python3" % r,
                  "touch %s/ready" % r,
                  "exec sleep infinity"]
        return "\n".join(lines)

    def down(self):
        """Unmount what the SR code mounted, end every process of the namespace, stop syslog."""
        if self.holder is not None and self.holder.poll() is None:
            _stop_namespace(self.holder.pid)
            self.holder.wait(10)
        if self.holder is not None:
            for stream in (self.holder.stdout, self.holder.stderr):
                if stream:
                    stream.close()
        self.holder = None
        if os.path.exists(os.path.join(self.root, "holder.pid")):
            os.unlink(os.path.join(self.root, "holder.pid"))
        if self.syslog is not None:
            self.syslog.stop()
            self.syslog = None

    # -- running things in it ---------------------------------------------------------------------

    def argv(self, argv):
        """``argv`` run inside this dom0 (its mounts; its network when it has one)."""
        prefix = ["nsenter", "-t", str(self.holder.pid), "-m"]
        if self.netns:
            prefix.append("-n")
        return prefix + list(argv)

    def env(self):
        """A dom0 program's environment: xapi starts drivers with little more than PATH."""
        return {"PATH": DOM0_PATH, "LANG": "C.UTF-8"}

    def run(self, argv, timeout=120, check=True):
        res = subprocess.run(self.argv(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env(),
                             universal_newlines=True, timeout=timeout)
        if check and res.returncode != 0:
            raise RuntimeError("%s exited %s in %s: %s" % (argv, res.returncode, self.name,
                                                          (res.stderr or res.stdout).strip()))
        return res

    def path(self, inside):
        """This machine's path to a file as this dom0 sees it (through the holder's root)."""
        return path_in(self.holder.pid, inside)

    def mounts(self):
        """/proc/mounts as this dom0 sees it."""
        with open("/proc/%d/mounts" % self.holder.pid) as fh:
            return fh.read()

    def fuse_mounts(self):
        """The FUSE mounts made in this dom0 (inherited ones are dropped at setup)."""
        return [line for line in self.mounts().splitlines() if line.split()[2].startswith("fuse")]

    def smlog_text(self):
        try:
            with open(self.smlog) as fh:
                return fh.read()
        except IOError:
            return ""


def path_in(pid, inside):
    """This machine's path to ``inside`` as process ``pid``'s mount namespace sees it.

    Symlinks are followed here, under /proc/<pid>/root: the kernel would resolve an absolute
    link target (the SR path is one) against this machine's root instead."""
    base = "/proc/%d/root" % pid
    parts = [p for p in inside.split("/") if p]
    done = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            done = done[:-1]
            continue
        if part == ".":
            continue
        candidate = base + "/" + "/".join(done + [part])
        if os.path.islink(candidate) and hops < 40:
            hops += 1
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(part)
    return base + "/" + "/".join(done)


def holder_pid(workdir):
    """The holder process of the lab dom0 whose folder is ``workdir`` (another process's dom0)."""
    try:
        with open(os.path.join(workdir, "holder.pid")) as fh:
            return int(fh.read())
    except (IOError, ValueError):
        return None


def reap(workdir):
    """Stop the lab dom0 whose folder is ``workdir`` when its owner died without stopping it
    (``python -m xosan_lab down`` after a crashed simulator): its FUSE mounts, its processes."""
    pid = holder_pid(workdir)
    if pid is None:
        return False
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            ours = fh.read().split(b"\0")[:2] == [b"sleep", b"infinity"]
        ours = ours and os.readlink("/proc/%d/ns/mnt" % pid) != os.readlink("/proc/self/ns/mnt")
    except OSError:
        ours = False
    if ours:
        _stop_namespace(pid)
    os.unlink(os.path.join(workdir, "holder.pid"))
    return ours


def _stop_namespace(pid):
    """Lazily unmount the FUSE mounts of holder ``pid``'s namespace, then kill its processes."""
    try:
        ns = os.readlink("/proc/%d/ns/mnt" % pid)
        with open("/proc/%d/mounts" % pid) as fh:
            fuse = [line.split()[1] for line in fh if line.split()[2].startswith("fuse")]
        for mp in sorted(fuse, reverse=True):
            subprocess.call(["nsenter", "-t", str(pid), "-m", "umount", "-l", mp], stderr=subprocess.DEVNULL)
        for other in _ns_pids(ns):
            if other != pid:
                _kill(other)
    except OSError:
        pass
    _kill(pid)


def _ns_pids(ns):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink("/proc/%s/ns/mnt" % entry) == ns:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
