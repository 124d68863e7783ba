"""Helpers for tests on the real lab: waiting for heal, reading brick files."""

import contextlib
import hashlib
import os
import sys
import time

from xosan.gluster import parse_heal_info, parse_volume_info, parse_volume_status


def _run_tag():
    """Which Python runs the suite: 3.6 and 3 runs may go side by side (make test-py), so every lab
    name and address they make carries it."""
    return sys.version_info[1] % 100


def lab_subnet(offset):
    """A /24 per test module; 10.250.x for the Python 3.6 run, 10.251.x for the other, so runs never
    share addresses."""
    if not 0 < offset < 255:
        raise ValueError("lab subnet offset %r is not in 1..254" % offset)
    return "10.%d.%d" % (250 if _run_tag() == 6 else 251, offset)


def lab_name(prefix):
    """A lab id per test module and Python run (netns, bridge and veth names; at most 9 characters)."""
    return "%s%d" % (prefix, _run_tag())


def _all_bricks_online(node, volume):
    """glusterd's own view (volume status), which lags behind heal info after a reconnect."""
    info = node.gluster(["volume", "info", volume, "--xml"], check=False)
    status = node.gluster(["volume", "status", volume, "--xml"], check=False)
    try:
        [vol] = parse_volume_info(info.stdout)
        online = set(b.name for b in parse_volume_status(status.stdout)[0] if b.online)
    except Exception:
        return False
    return all(b.name in online for b in vol.bricks)


@contextlib.contextmanager
def three_node_lab(workdir, lab_id, subnet):
    """Three real storage nodes with a started replica 3 arbiter 1 volume 'xosan', always torn down."""
    from xosan_lab.cluster import Lab
    lab = Lab.new(workdir, lab_id=lab_id, subnet=subnet)
    try:
        lab.up(3, brick_size=1024 ** 3)
        lab.create_volume("xosan", ["replica", "3", "arbiter", "1"])
        yield lab
    finally:
        lab.down()


def wait_for_heal(lab, volume, timeout=300):
    """Trigger an index heal and wait until every brick is online and connected with 0 entries."""
    node = lab.nodes[0]
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        node.gluster(["volume", "heal", volume], check=False)
        res = node.gluster(["volume", "heal", volume, "info", "--xml"], check=False)
        if res.returncode == 0:
            last = parse_heal_info(res.stdout)
            if last and all(e.connected and e.entries == 0 for e in last) and _all_bricks_online(node, volume):
                return last
        time.sleep(3)
    raise AssertionError("heal did not finish in %s s: %s" % (
        timeout, [(e.brick, e.status, e.entries) for e in (last or [])]))


def split_brain_entries(lab, volume):
    res = lab.nodes[0].gluster(["volume", "heal", volume, "info", "split-brain", "--xml"])
    return sum(e.entries or 0 for e in parse_heal_info(res.stdout))


def brick_sha256(node, path, offset, length):
    """sha256 of a byte range of a file on the node's brick (inside its mount namespace)."""
    code = ("import hashlib,sys; f=open(sys.argv[1],'rb'); f.seek(int(sys.argv[2])); "
            "print(hashlib.sha256(f.read(int(sys.argv[3]))).hexdigest())")
    return node.run(["python3", "-c", code, path, str(offset), str(length)]).stdout.strip()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def timed_write(fd, data, offset):
    """pwrite + fsync; return the seconds it took (the stall, when a node just vanished)."""
    t = time.time()
    os.pwrite(fd, data, offset)
    os.fsync(fd)
    return time.time() - t
