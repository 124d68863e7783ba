"""``python -m xosan_lab run`` (``make lab``): a whole XOSAN pool on this machine, end to end.

A simulated 3-host pool (the XAPI simulator, real XenAPI client), the real
``xosan plan`` and ``xosan deploy`` against it, storage VMs that are real
GlusterFS nodes, an SR of type xosan plugged on every host through the real
driver, a VDI written through one host's mount and read back through every
host's mount, and the status screen.
"""

import hashlib
import mmap
import os
import secrets
import subprocess
import sys
import time

from xosan.pool.xapi import Xapi
from xosan_lab.cluster import Lab
from xosan_lab.dom0 import holder_pid, path_in
from xosan_lab.node import LabError
from xosan_lab.standin import make_standin

GiB = 1024 ** 3
MiB = 1024 ** 2


def _run_cli(args, check=True):
    cmd = [sys.executable, "-m", "xosan"] + args
    sys.stdout.write("\n$ xosan %s\n" % " ".join(args))
    sys.stdout.flush()
    rc = subprocess.call(cmd)
    if check and rc != 0:
        raise LabError("xosan %s failed (exit %d)" % (" ".join(args), rc))
    return rc


def _dom0_file(workdir, host_name, inside):
    """A file as a simulated host's dom0 sees it (the simulator process runs the dom0s)."""
    pid = holder_pid(os.path.join(workdir, "hosts", host_name, "dom0"))
    if pid is None:
        raise LabError("host %s has no running dom0 (is the XAPI simulator up?)" % host_name)
    return path_in(pid, inside)


def write_manifest(path, url, password_file, subnet, hosts, image):
    with open(path, "w") as fh:
        fh.write("""# The lab's deployment manifest (written by python -m xosan_lab run).
pool:
  master: %s
  username: root
  password-file: %s
hosts: all
storage:
  brick-size: 4G
network:
  mode: existing
  name: Pool-wide network associated with eth1
  addresses: %s.0/24
layout: auto
vm:
  template: XOSAN storage VM
  image: %s
volume: xosan
sr-name: XOSAN
""" % (url, password_file, subnet, image))


def start_simulator(workdir, hosts, subnet, password_file, timeout=30):
    log = open(os.path.join(workdir, "xapi-sim.log"), "ab")
    subprocess.Popen([sys.executable, "-m", "xosan_lab.serve", "--workdir", workdir, "--hosts", str(hosts),
                      "--password-file", password_file, "--subnet", subnet],
                     stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    deadline = time.time() + timeout
    while time.time() < deadline:
        lab = Lab.load(workdir)
        if lab is not None and lab.state.get("xapi", {}).get("url"):
            return lab.state["xapi"]["url"]
        time.sleep(0.2)
    raise LabError("the XAPI simulator did not start; see %s/xapi-sim.log" % workdir)


def run(workdir, hosts=3, subnet="10.250.0", image=None):
    t0 = time.time()
    old = Lab.load(workdir)
    if old is not None:
        print("A lab is already in %s: removing it first (python -m xosan_lab down)" % workdir)
        old.down()
    os.makedirs(workdir, exist_ok=True)
    password_file = os.path.join(workdir, "xapi-password")
    with open(password_file, "w") as fh:
        fh.write(secrets.token_hex(12) + "\n")
    os.chmod(password_file, 0o600)
    manifest = os.path.join(workdir, "xosan.yaml")

    print("== 1. a simulated pool of %d hosts (XAPI simulator, storage network %s.0/24)" % (hosts, subnet))
    url = start_simulator(workdir, hosts, subnet, password_file)
    print("XAPI at %s" % url)
    if image:
        image = os.path.abspath(image)
        print("Appliance to import: %s" % image)
    else:
        image = make_standin(os.path.join(workdir, "appliance"))
        print("Appliance to import: a stand-in VHD, %s (make lab APPLIANCE=build/appliance/manifest.json "
              "imports the real one)" % os.path.dirname(image))
    write_manifest(manifest, url, password_file, subnet, hosts, image)
    state_dir = os.path.join(workdir, "state")

    print("\n== 2. plan and deploy, with the xosan command itself")
    _run_cli(["plan", "-f", manifest, "--state-dir", state_dir])
    _run_cli(["deploy", "-f", manifest, "--state-dir", state_dir])

    print("\n== 3. a VDI on the new SR, written on one host, read back on every host")
    with open(password_file) as fh:
        x = Xapi.connect(url, "root", fh.readline().strip())
    try:
        api = x.api
        [sr] = [r for r, rec in api.SR.get_all_records().items() if rec["type"] == "xosan"]
        sr_uuid = api.SR.get_uuid(sr)
        vdi = x.run_async("VDI.create", {"name_label": "lab disk", "name_description": "written by the lab",
                                         "SR": sr, "virtual_size": str(GiB), "type": "user", "sharable": False,
                                         "read_only": False, "other_config": {}, "xenstore_data": {},
                                         "sm_config": {}, "tags": []})
        vdi_uuid = api.VDI.get_uuid(vdi)
        hosts_recs = sorted(api.host.get_all_records().values(), key=lambda h: h["name_label"])
        pattern = hashlib.sha256(b"xosan lab").digest() * (MiB // 32)
        inside = "/var/run/sr-mount/%s/%s.vhd" % (sr_uuid, vdi_uuid)
        paths = [_dom0_file(workdir, h["name_label"], inside) for h in hosts_recs]
        # O_DIRECT, as tapdisk opens VM disks: another host's page cache is never asked
        buf = mmap.mmap(-1, len(pattern))  # page-aligned, as O_DIRECT needs
        buf.write(pattern)
        fd = os.open(paths[0], os.O_RDWR | os.O_DIRECT)
        try:
            os.pwritev(fd, [buf], MiB)
            os.fsync(fd)
        finally:
            os.close(fd)
        want = hashlib.sha256(pattern).hexdigest()
        for h, path in zip(hosts_recs, paths):
            # Another host's FUSE client may still hold the file's old size for its attribute
            # timeout (1 s); a VM's disk is opened on one host at a time, after it was closed.
            deadline = time.monotonic() + 5
            while os.stat(path).st_size < MiB + len(pattern) and time.monotonic() < deadline:
                time.sleep(0.2)
            got_buf = mmap.mmap(-1, len(pattern))
            fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
            try:
                n = os.preadv(fd, [got_buf], MiB)
            finally:
                os.close(fd)
            got = hashlib.sha256(got_buf[:n]).hexdigest()
            print("  %-12s %s  %s" % (h["name_label"], "read back OK " if got == want else "MISMATCH     ", inside))
            if got != want:
                raise LabError("%s read different data than was written" % h["name_label"])
    finally:
        x.logout()

    print("\n== 4. status")
    _run_cli(["status", "-f", manifest, "--state-dir", state_dir], check=False)
    xosan = "%s -m xosan" % os.path.relpath(sys.executable)  # the venv's interpreter: it has the deps
    print("\nDone in %.0f s. The pool keeps running:" % (time.time() - t0))
    print("  %s status -f %s --state-dir %s     health again" % (xosan, manifest, state_dir))
    lab = "%s -m xosan_lab --workdir %s" % (os.path.relpath(sys.executable), workdir)
    print("  %s status                 the lab's nodes" % lab)
    print("  %s fail 2 --mode cut      make a storage node fail" % lab)
    print("  make lab-down   (or: %s down)   remove everything" % lab)
    return 0
