"""TLS on the lab's I/O path: certificates where each lab machine reads them, and a client that
presents a certificate of the caller's choosing.

On a pool every machine keeps its files at the one folder the volume options name
(xosan/gluster/tls.py). Here the nodes and this machine share one file system, and other labs run
beside this one, so nothing goes to a fixed global path: each node reads its own files from its
folder, which its private mount namespace shows at NODE_DIR_INSIDE; a lab client reads its files
from a folder of the caller's, through glusterfs' --xlator-option (mount.glusterfs forwards only
one such option, so glusterfs is started directly, as mount.glusterfs would start it).
"""

import os
import subprocess
import time

from xosan.gluster import tls
from xosan.pool.certs import install
from xosan_lab.node import NODE_DIR_INSIDE, LabError, kill_pids

NODE_CERT_DIR = NODE_DIR_INSIDE + "/tls"  # the path in the volume options, as every node resolves it


def install_node_certs(lab, ca):
    """One certificate per node of ``lab`` (a certs.DeploymentCA), in the node's folder; their CNs."""
    names = []
    for n in lab.nodes:
        cn = ca.name_for("node", n.name)
        install(ca.ensure_identity(cn), os.path.join(n.state["dir"], "tls"))
        names.append(cn)
    return names


def mount(lab, volume, mountpoint, cert_folder, log_file, extra_xlator_options=(), timeout=30.0):
    """FUSE-mount ``volume`` at ``mountpoint`` as a client whose files are in ``cert_folder``.
    Returns True when the mount answers, False when it does not within ``timeout`` (a refused
    client: its glusterfs may exit, or stay with no brick connected); unmounts in that case."""
    os.makedirs(mountpoint, exist_ok=True)
    argv = ["glusterfs", "--process-name", "fuse", "--log-file=%s" % log_file, "--pid-file=%s" % _pid_file(mountpoint)]
    argv += ["--volfile-server=%s" % n.ip for n in lab.nodes] + ["--volfile-id=%s" % volume]
    argv += ["--xlator-option=%s" % o for o in tls.client_overrides(cert_folder) + list(extra_xlator_options)]
    res = subprocess.run(argv + [mountpoint], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=60)
    if res.returncode != 0:
        raise LabError("glusterfs could not start for %s: %s" % (mountpoint, res.stdout.strip()[-300:]))
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.ismount(mountpoint) and answers(mountpoint):
            return True
        time.sleep(0.5)
    umount(mountpoint)
    return False


def answers(mountpoint, timeout=10):
    """Whether the mount serves a stat of its root with some size (in a child process, so a hung FUSE
    request cannot hang the caller)."""
    code = "import os,sys; sys.exit(0 if os.statvfs(sys.argv[1]).f_blocks > 0 else 1)"
    try:
        return subprocess.run(["python3", "-c", code, mountpoint], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _pid_file(mountpoint):
    return mountpoint.rstrip("/") + ".pid"


def _mounted(mountpoint):
    # /proc/mounts, not os.path.ismount: a client refused by every brick fails the stat ismount needs
    from xosan.sr.mount import is_mounted
    return is_mounted(mountpoint)


def umount(mountpoint):
    """Unmount and stop the client: a refused glusterfs keeps retrying its bricks after a lazy unmount,
    so its pid (from the pid file it wrote) is stopped too."""
    if _mounted(mountpoint):
        subprocess.call(["umount", mountpoint], stderr=subprocess.DEVNULL)
    if _mounted(mountpoint):
        subprocess.call(["umount", "-l", mountpoint])
    try:
        with open(_pid_file(mountpoint)) as fh:
            pid = int(fh.read().strip())
    except (OSError, ValueError):
        return
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            ours = mountpoint.encode() in fh.read().split(b"\0")
    except OSError:
        ours = False
    if ours:  # the pid is still this client's, not a reused one
        kill_pids([pid])
    os.unlink(_pid_file(mountpoint))


def umount_under(folder):
    """Unmount every mount below ``folder`` (a test's clients), deepest first."""
    from xosan.sr.mount import mounts
    top = folder.rstrip("/") + "/"
    for _, mp, _, _ in sorted(mounts(), key=lambda m: -len(m[1])):
        if mp.startswith(top):
            umount(mp)
    for dirpath, _, files in os.walk(folder):  # clients whose mount is gone but process is not
        for f in files:
            if f.endswith(".pid") and os.path.isdir(os.path.join(dirpath, f[:-4])):
                umount(os.path.join(dirpath, f[:-4]))
