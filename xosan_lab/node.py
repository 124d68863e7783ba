"""A lab storage node: what a storage VM is on a real pool, as a network namespace.

Each node has its own IP on the lab bridge, a private mount namespace in which
/var/lib/glusterd, /run and /var/log/glusterfs are the node's own folders (and /tmp a tmpfs), a
brick on XFS (a sparse file on a loop device, mounted only inside the node)
and glusterd from Debian's glusterfs-server. Every process of a node lives in
its network namespace, so stopping it means killing exactly the pids that
``ip netns pids`` lists: never anything found by name.
"""

import os
import shutil
import signal
import subprocess
import time

from xosan.errors import CommandFailed, CommandTimeout, XosanError
from xosan.pool.storage_vm import BRICK_ROOT, glusterd_vol
from xosan_lab import netns
from xosan_lab.netns import link_exists, netns_exists, netns_pids, sh  # noqa: F401 (used by the lab)

NODE_DIR_INSIDE = "/srv/xosan-node"  # the node's folder, as its own processes see it
# Where Debian's GlusterFS (this machine's and the storage VM's) reads management TLS files
# (xosan/gluster/tls.py MGMT_DIR_PROBE): each node has its own, as each storage VM does.
NODE_SSL_DIR = "/usr/lib/ssl"

SYSTEM_GLUSTERD_DIR = "/var/lib/glusterd"


class LabError(XosanError):
    pass


# The node's main process: glusterd under a minimal supervisor, so that `systemctl restart glusterd`
# (NODE_SYSTEMCTL) gets a new glusterd in the same namespaces, as systemd gives a storage VM one.
# Brick processes are glusterd's children by fork but their own sessions: like the unit's
# KillMode=process, a restart leaves them running. Five exits within 2 s of their start end the
# node (the start's wait then reports it, with glusterd.out).
GLUSTERD_LOOP = """\
quick=0
while [ $quick -lt 5 ]; do
  if [ -e /run/lab-glusterd.held ]; then sleep 0.2; continue; fi
  t0=$(date +%%s)
  glusterd -N -f %(dir)s/glusterd.vol &
  echo $! > /run/lab-glusterd.pid
  wait $!
  rm -f /run/lab-glusterd.pid
  if [ $(( $(date +%%s) - t0 )) -lt 2 ]; then quick=$((quick + 1)); else quick=0; fi
  sleep 0.2
done
echo "glusterd exited 5 times within 2 s of its start" >&2
exit 1
"""

# The storage node's /usr/bin/systemctl: glusterd only (the unit a storage VM's tools restart).
# The pid comes from the node's own /run: never a process found by name, which would be another
# node's on this machine.
NODE_SYSTEMCTL = """\
#!/bin/sh
cmd=""; unit=""
for a in "$@"; do
  case "$a" in -*) ;; *) if [ -z "$cmd" ]; then cmd=$a; else unit=${a%.service}; fi ;; esac
done
if [ "$unit" != glusterd ]; then
  echo "systemctl (lab storage node): only glusterd is simulated, not '$unit'" >&2; exit 1
fi
pid() { cat /run/lab-glusterd.pid 2>/dev/null; }
stop() {
  p=$(pid); [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null
  n=0; while kill -0 "$p" 2>/dev/null && [ $n -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
  kill -9 "$p" 2>/dev/null; n=0; while [ "$(pid)" = "$p" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
}
started() { n=0; while [ -z "$(pid)" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done; [ -n "$(pid)" ]; }
case "$cmd" in
  restart) rm -f /run/lab-glusterd.held; stop; started ;;
  stop) touch /run/lab-glusterd.held; stop ;;
  start) rm -f /run/lab-glusterd.held; started ;;
  is-active) if [ -n "$(pid)" ] && kill -0 "$(pid)" 2>/dev/null; then echo active; else echo inactive; exit 3; fi ;;
  *) echo "systemctl (lab storage node): '$cmd' is not simulated" >&2; exit 1 ;;
esac
"""






def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def kill_pids(pids, timeout=10.0):
    """SIGTERM, then SIGKILL what is left; reap our own children."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.time() + (timeout if sig == signal.SIGTERM else 5)
        while time.time() < deadline:
            for pid in pids:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except OSError:
                    pass
            if not any(pid_alive(p) for p in pids):
                return
            time.sleep(0.1)


class LabNode(object):
    """One storage node. ``state`` is a plain dict so the lab can save and reload it."""

    def __init__(self, state):
        self.state = state

    @classmethod
    def new(cls, lab_id, index, ip, prefixlen, workdir, bridge, brick_size=None, use_loop=True):
        name = "%s-n%d" % (lab_id, index)
        return cls({
            "name": name, "index": index, "ip": ip, "prefixlen": prefixlen,
            "netns": name, "veth": "%sv%d" % (lab_id, index), "bridge": bridge,
            "dir": os.path.join(workdir, "n%d" % index),
            "brick_size": brick_size or 2 * 1024 ** 3, "use_loop": use_loop,
            "loopdev": None, "brick_image": None, "pid": None,
        })

    name = property(lambda self: self.state["name"])
    ip = property(lambda self: self.state["ip"])
    pid = property(lambda self: self.state["pid"])

    # The data disk is mounted where a storage VM mounts it, inside the node's mount namespace
    # (a private tmpfs on /srv holds the mount point).
    brick_mount = BRICK_ROOT

    @property
    def brick_folder(self):
        """Backing folder of the brick when loop devices are missing."""
        return os.path.join(self.state["dir"], "brick")

    def brick_path(self, volume, subdir=None):
        """The brick directory for ``volume``: a sub-folder, so an unmounted disk is never used."""
        return os.path.join(self.brick_mount, volume, subdir) if subdir else os.path.join(self.brick_mount, volume)

    # -- network --------------------------------------------------------------------------

    def _create_netns(self):
        netns.plug(self.state)

    def block(self, address):
        """Drop this node's traffic to ``address`` (a partition)."""
        netns.block(self.state, address)

    def unblock(self, address):
        netns.unblock(self.state, address)

    def cut(self):
        """Cut the node off the storage network (its processes keep running)."""
        sh(["ip", "link", "set", self.state["veth"], "down"])

    def reconnect(self):
        sh(["ip", "link", "set", self.state["veth"], "up"])

    def is_cut(self):
        res = sh(["ip", "-o", "link", "show", self.state["veth"]], check=False)
        return "state DOWN" in res.stdout or ",UP" not in res.stdout.replace("<UP", ",UP")

    # -- brick ------------------------------------------------------------------------------

    def _prepare_brick(self):
        s = self.state
        os.makedirs(self.brick_folder, exist_ok=True)
        if not s["use_loop"]:
            return
        if s["loopdev"] and os.path.exists(s["loopdev"]):
            res = sh(["losetup", "-n", "-O", "BACK-FILE", s["loopdev"]], check=False)
            if res.returncode == 0 and res.stdout.strip() == s["brick_image"]:
                return
        image = os.path.join(s["dir"], "brick.img")
        fresh = not os.path.exists(image)
        if fresh:
            with open(image, "wb") as fh:
                fh.truncate(s["brick_size"])
        try:
            dev = sh(["losetup", "-f", "--show", image]).stdout.strip()
        except CommandFailed as exc:
            raise LabError("no loop device for the brick of %s: %s" % (self.name, exc.message),
                           hint="Run with --brick-dir-fallback to use a plain folder instead")
        s["loopdev"], s["brick_image"] = dev, image
        if fresh:
            sh(["mkfs.xfs", "-q", "-f", "-i", "size=512", dev], timeout=120)

    def _release_brick(self):
        s = self.state
        if s.get("loopdev"):
            for _ in range(50):
                res = sh(["losetup", "-d", s["loopdev"]], check=False)
                if res.returncode == 0 or "No such device" in res.stderr:
                    break
                time.sleep(0.1)
            s["loopdev"] = None

    # -- glusterd --------------------------------------------------------------------------

    def _prepare_dirs(self):
        d = self.state["dir"]
        for sub in ("glusterd", "run", "log", "ssl/up", "ssl/work"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        with open(os.path.join(d, "glusterd-loop"), "w") as fh:
            fh.write(GLUSTERD_LOOP % {"dir": NODE_DIR_INSIDE})
        with open(os.path.join(d, "systemctl"), "w") as fh:
            fh.write(NODE_SYSTEMCTL)
        os.chmod(os.path.join(d, "systemctl"), 0o755)
        # glusterd's own volfile with the storage VM's options (as the appliance ships it)
        with open("/etc/glusterfs/glusterd.vol") as fh:
            stock = fh.read()
        with open(os.path.join(d, "glusterd.vol"), "w") as fh:
            fh.write(glusterd_vol(stock))
        # A fresh glusterd dir has no option groups: "volume set group virt" needs them.
        for sub in ("groups", "hooks"):
            src = os.path.join(SYSTEM_GLUSTERD_DIR, sub)
            dst = os.path.join(d, "glusterd", sub)
            if os.path.isdir(src) and not os.path.exists(dst):
                shutil.copytree(src, dst, symlinks=True)

    # -- sshd: how the product reaches a storage VM -----------------------------------------

    @property
    def ssh_dir(self):
        return os.path.join(self.state["dir"], "ssh")

    def host_public_key(self):
        with open(os.path.join(self.ssh_dir, "ssh_host_ed25519_key.pub")) as fh:
            return fh.read().strip()

    def _prepare_sshd(self, authorized_keys):
        d = self.ssh_dir
        os.makedirs(d, exist_ok=True)
        key = os.path.join(d, "ssh_host_ed25519_key")
        if not os.path.exists(key):
            sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name, "-f", key])
        with open(os.path.join(d, "authorized_keys"), "w") as fh:
            fh.write("".join(k.strip() + "\n" for k in authorized_keys))
        inside = NODE_DIR_INSIDE + "/ssh"  # sshd reads these after /tmp is the node's own
        with open(os.path.join(d, "sshd_config"), "w") as fh:
            fh.write("\n".join([
                "ListenAddress %s" % self.ip, "Port 22", "HostKey %s/ssh_host_ed25519_key" % inside,
                "PidFile /run/sshd.pid", "AuthorizedKeysFile %s/authorized_keys" % inside,
                "PermitRootLogin prohibit-password", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
                "PrintMotd no", "AcceptEnv no", ""]))

    def _wrapper_script(self):
        d = self.state["dir"]
        lines = ["set -e",
                 "mount --bind %s/glusterd /var/lib/glusterd" % d,
                 "mount --bind %s/run /run" % d,
                 "mount --bind %s/log /var/log/glusterfs" % d]
        lines += ["mount -t tmpfs -o size=1m,mode=0755 xosan-srv /srv", "mkdir -p %s" % self.brick_mount,
                  "mkdir -p %s" % NODE_DIR_INSIDE, "mount --bind %s %s" % (d, NODE_DIR_INSIDE)]
        if self.state["use_loop"]:
            lines.append("mount -t xfs -o noatime,inode64 %s %s" % (self.state["loopdev"], self.brick_mount))
        else:
            lines.append("mount --bind %s %s" % (self.brick_folder, self.brick_mount))
        # glusterd writes temporary volfiles under fixed names in /tmp (/tmp/<vol>.tcp-fuse.vol on
        # add-brick): nodes sharing the machine's /tmp overwrite each other's and a commit fails.
        # A storage VM has its own /tmp; so does a node. From here on the node's folder (which may
        # be under /tmp, as in the tests) is reached at NODE_DIR_INSIDE.
        lines += ["mount -t tmpfs -o size=64m,mode=1777 xosan-tmp /tmp"]
        # The node's own OpenSSL folder (an overlay: the machine's files show through) and systemctl:
        # management TLS puts glusterd's files there and restarts glusterd, as on a storage VM.
        lines += ["mount -t overlay overlay -o lowerdir={1},upperdir={0}/ssl/up,workdir={0}/ssl/work "
                  "{1}".format(NODE_DIR_INSIDE, NODE_SSL_DIR),
                  "mount --bind %s/systemctl /usr/bin/systemctl" % NODE_DIR_INSIDE]
        lines += ["mkdir -p /run/sshd",
                  "/usr/sbin/sshd -f {0}/ssh/sshd_config -E {0}/log/sshd.log".format(NODE_DIR_INSIDE),
                  "exec sh %s/glusterd-loop" % NODE_DIR_INSIDE]
        return "; ".join(lines)

    def start(self, authorized_keys=(), timeout=60.0):
        """Start the node (idempotent); returns when glusterd answers."""
        if self.running():
            return
        self._create_netns()
        self._prepare_dirs()
        self._prepare_brick()
        self._prepare_sshd(authorized_keys or self.state.get("authorized_keys", []))
        self.state["authorized_keys"] = list(authorized_keys or self.state.get("authorized_keys", []))
        out = open(os.path.join(self.state["dir"], "glusterd.out"), "ab")
        p = subprocess.Popen(["ip", "netns", "exec", self.state["netns"], "unshare", "-m",
                              "--propagation", "private", "sh", "-c", self._wrapper_script()],
                             stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self.state["pid"] = p.pid
        deadline = time.time() + timeout
        while time.time() < deadline:
            if p.poll() is not None:
                raise LabError("glusterd of %s exited at start (rc %s); see %s/glusterd.out and %s/log/"
                               % (self.name, p.returncode, self.state["dir"], self.state["dir"]))
            try:
                if self.gluster(["pool", "list"], check=False, timeout=10).returncode == 0:
                    return
            except CommandTimeout:
                pass  # a glusterd still starting on a loaded machine: the deadline above bounds the wait
            time.sleep(0.3)
        raise LabError("glusterd of %s did not answer within %s s" % (self.name, timeout))

    def glusterd_pid(self):
        """The node's glusterd (its main process is the supervisor that restarts it)."""
        try:
            with open(os.path.join(self.state["dir"], "run", "lab-glusterd.pid")) as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            return None

    def running(self):
        pid = self.state.get("pid")
        return bool(pid) and pid_alive(pid) and netns_exists(self.state["netns"])

    def kill(self):
        """Kill every process of the node (glusterd, bricks, self-heal), as a crash would."""
        kill_pids(netns_pids(self.state["netns"]) if netns_exists(self.state["netns"]) else [])
        pid = self.state.get("pid")
        if pid:
            kill_pids([pid])
        self.state["pid"] = None

    def destroy(self):
        """Remove everything the node made: processes, loop device, netns (and its veth)."""
        self.kill()
        self._release_brick()
        netns.unplug(self.state)

    # -- commands inside the node --------------------------------------------------------

    def exec_argv(self, argv):
        """argv that runs inside the node's network and mount namespaces."""
        if not self.running():
            raise LabError("node %s is not running" % self.name)
        return ["nsenter", "-t", str(self.state["pid"]), "-n", "-m"] + list(argv)

    def run(self, argv, timeout=60, check=True):
        return sh(self.exec_argv(argv), timeout=timeout, check=check)

    def gluster(self, args, timeout=60, check=True):
        return self.run(["gluster", "--mode=script"] + list(args), timeout=timeout, check=check)
