"""Access control on a deployed pool (issue 15): the volume serves the deployment's dom0s, storage VMs
and witness only; a stranger on the storage network (the lab bridge's own address, which is neither a
dom0 nor a storage VM) is refused; add-host and replace-host keep the list current."""

import os
import socket
import subprocess
import tempfile
import time

import pytest
from labpool import management_tls_on, pool_fixture
from test_operate_lab import read_sha, write_pattern, xosan_cli

from xosan.gluster import health, parse_volume_info, parse_volume_status

pytestmark = pytest.mark.gluster

pool = pool_fixture(3, 60)
pool62 = pool_fixture(3, 62)


def auth_allow(pool, host_name="lab-host-1"):
    res = pool.node_of(host_name).gluster(["volume", "info", "xosan", "--xml"])
    [info] = parse_volume_info(res.stdout)
    return info.options.get("auth.allow")


def expected(pool):
    """What the pool has now, read from the lab itself (not from XOSAN's code): every dom0's storage
    address and every running storage VM's."""
    dom0s = [h.ip for h in pool.lab.hosts]
    vms = [pool.node_of(name).ip for name in sorted(pool.ops().storage_vms())]
    return sorted(set(dom0s + vms), key=lambda a: tuple(int(x) for x in a.split(".")))


def filter_allows(pool, host_name):
    """The addresses the packet filter loaded in ``host_name``'s storage VM accepts (None: no table)."""
    res = pool.node_of(host_name).run(["/usr/sbin/nft", "list", "table", "inet", "xosan"], check=False)
    if res.returncode != 0:
        return None
    [line] = [ln for ln in res.stdout.splitlines() if "ip saddr" in ln and "accept" in ln]
    return sorted(line.split("{")[1].split("}")[0].replace(" ", "").split(","),
                  key=lambda a: tuple(int(x) for x in a.split(".")))


def stranger_connects(address, port):
    """From the lab's root namespace (lab.host_ip): does a TCP connection get through within 3 s?"""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((address, port))
        return True
    except socket.timeout:
        return False   # dropped by the filter: no answer at all
    finally:
        s.close()


def assert_stranger_filtered(pool):
    """glusterd's port and a brick's port of every storage VM drop the stranger's packets; the CLI's
    --remote-host (which would list volumes, bricks and options) gets nothing."""
    for name in sorted(pool.ops().storage_vms()):
        node = pool.node_of(name)
        assert filter_allows(pool, name) == expected(pool), name
        assert not stranger_connects(node.ip, 24007), node.ip
        status = node.gluster(["volume", "status", "xosan", "--xml"])
        port = int(status.stdout.split("<port>")[1].split("<")[0])
        assert not stranger_connects(node.ip, port), (node.ip, port)
    res = subprocess.run(["timeout", "60", "gluster", "--remote-host=%s" % pool.node_of("lab-host-1").ip,
                          "volume", "info"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    assert res.returncode != 0 and "Volume Name" not in res.stdout, res.stdout


def stranger_mount(pool, sr_uuid, server=None, volfile=None):
    """Mount the volume from the lab's root namespace (lab.host_ip): what a stranger on the storage
    network would do, through glusterd (``server``) or with a client volfile in hand (``volfile``,
    the text: a copy of the one the storage VMs serve). Returns (exit code, its output, what the
    stranger saw of the SR's folder, the client's log)."""
    d = tempfile.mkdtemp(prefix="xosan-stranger-")
    log = d + ".log"
    try:
        if volfile is None:
            argv = ["mount", "-t", "glusterfs", "-o", "log-file=%s" % log, "%s:/xosan" % server, d]
        else:
            with open(d + ".vol", "w") as fh:
                fh.write(volfile)
            argv = ["glusterfs", "--volfile=%s.vol" % d, "--log-file=%s" % log, d]
        res = subprocess.run(["timeout", "60"] + argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True)
        if volfile is not None:  # glusterfs forks away before it connects: until the bricks answered
            deadline = time.time() + 30
            while time.time() < deadline and "Shutting down" not in _read(log) \
                    and "attached to remote volume" not in _read(log):
                time.sleep(0.5)
        seen = None
        if res.returncode == 0:  # whatever mounted: can it see the SR's VHD folder?
            try:
                seen = os.listdir(os.path.join(d, sr_uuid))
            except OSError as exc:
                seen = exc
        return res.returncode, res.stdout, seen, _read(log)
    finally:
        subprocess.run(["umount", "-l", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.rmdir(d)
        for leftover in (log, d + ".vol"):
            if os.path.exists(leftover):
                os.unlink(leftover)


def _read(path):
    try:
        with open(path) as fh:
            return fh.read()
    except IOError:
        return ""


def _mount_failed(out):
    """mount.glusterfs's two failure sentences, both seen here: "Mount failed." when the client
    died after it daemonized, "Mounting glusterfs on <dir> failed." when it exited before."""
    return "Mount failed." in out or ("Mounting glusterfs on " in out and " failed." in out)


def assert_stranger_refused(pool, sr_uuid):
    """Measured on glusterfs 10.3. With management TLS on (the default since 2026-12-07) the stranger
    does not even get the volfile: its plain connection to glusterd is dropped ("Exhausted all
    volfile servers"). With it off (`tls: off`), glusterd hands the stranger the volfile, then every
    brick answers its SETVOLUME with "Authentication failed" and the FUSE client shuts down (bricks
    refusing on their own: assert_bricks_refuse_a_stranger_with_the_volfile). mount.glusterfs usually
    reports a failure; if the client's shutdown loses the race with the helper's own check, the
    mount returns 0 on a dead FUSE mount that shows nothing. Either way no file of the SR is visible."""
    node = pool.node_of("lab-host-1")
    rc, out, seen, log = stranger_mount(pool, sr_uuid, server=node.ip)
    assert "attached to remote volume" not in log, log[-3000:]
    if management_tls_on(node):
        assert "Exhausted all volfile servers" in log, log[-3000:]
        assert "SETVOLUME" not in log, log[-3000:]  # it never got as far as a brick
    else:
        refused = [ln for ln in log.splitlines() if "SETVOLUME on remote-host failed" in ln
                   and "Authentication failed" in ln]
        assert refused, log[-3000:]
        assert "Server authentication failed. Shutting down." in log, log[-3000:]
    if rc == 0:
        assert isinstance(seen, OSError), seen
    else:
        assert _mount_failed(out), out


def volfile_with_ports(node):
    """The client volfile ``node`` serves, each brick's port written in (``remote-port``): a client
    of it asks no glusterd at all, not even for the ports, so only the bricks can refuse it."""
    text = node.run(["cat", "/var/lib/glusterd/vols/xosan/xosan.tcp-fuse.vol"]).stdout
    bricks, _ = parse_volume_status(node.gluster(["volume", "status", "xosan", "--xml"]).stdout)
    ports = dict(((b.host, b.path), b.port) for b in bricks)
    out, block = [], {}
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["volume"]:
            block = {}
        elif words[:1] == ["option"] and len(words) == 3:
            block[words[1]] = words[2]
        elif words == ["end-volume"] and block.get("transport-type") == "tcp" and "remote-subvolume" in block:
            out.append("    option remote-port %d" % ports[(block["remote-host"], block["remote-subvolume"])])
        out.append(line)
    assert sum("remote-port" in ln for ln in out) == len(bricks) >= 3, out
    return "\n".join(out) + "\n"


def assert_bricks_refuse_a_stranger_with_the_volfile(pool, sr_uuid):
    """auth.allow on its own: a stranger holding a copy of the client volfile (no glusterd asked)
    is refused by every brick. Measured on glusterfs 10.3: each brick answers its SETVOLUME with
    "Authentication failed" and the client shuts down."""
    volfile = volfile_with_ports(pool.node_of("lab-host-1"))
    rc, out, seen, log = stranger_mount(pool, sr_uuid, volfile=volfile)
    refused = [ln for ln in log.splitlines() if "SETVOLUME on remote-host failed" in ln
               and "Authentication failed" in ln]
    assert refused, log[-3000:]
    assert "Server authentication failed. Shutting down." in log, log[-3000:]
    assert "attached to remote volume" not in log, log[-3000:]
    if rc == 0:
        assert isinstance(seen, OSError), seen


def test_deploy_allows_exactly_the_deployment_and_refuses_a_stranger(pool):
    sr, _ = pool.deployment().run()
    sr_uuid = pool.sim.db["SR"][sr]["uuid"]
    assert management_tls_on(pool.node_of("lab-host-1"))  # the default
    assert pool.lab.host_ip not in expected(pool)
    assert auth_allow(pool) == ",".join(expected(pool))
    assert_stranger_filtered(pool)
    # without the packet filter (e.g. an appliance that lost it), auth.allow still refuses the mount
    for name in ("lab-host-1", "lab-host-2", "lab-host-3"):
        pool.node_of(name).run(["/usr/sbin/nft", "delete", "table", "inet", "xosan"])
    assert stranger_connects(pool.node_of("lab-host-1").ip, 24007)
    assert_stranger_refused(pool, sr_uuid)
    assert_bricks_refuse_a_stranger_with_the_volfile(pool, sr_uuid)
    # a dom0 of the deployment reads and writes, another reads it back
    want = write_pattern(pool.mount_path("lab-host-1", sr_uuid, "allowed.img"), b"allowed")
    assert read_sha(pool.mount_path("lab-host-3", sr_uuid, "allowed.img")) == want

    # an existing deployment without the list (made before this change): plan says so, deploy sets it
    pool.node_of("lab-host-1").gluster(["volume", "reset", "xosan", "auth.allow"])
    assert auth_allow(pool) is None
    out = xosan_cli(pool, "plan")
    assert out.returncode == 0, out.stdout
    assert "auth.allow is unset (anyone on the storage network may mount the volume): set it to %s" % (
        ", ".join(expected(pool))) in out.stdout, out.stdout
    pool.deployment().run()
    assert auth_allow(pool) == ",".join(expected(pool))
    assert_stranger_filtered(pool)   # and the re-run loaded the filters again
    out = xosan_cli(pool, "plan")
    assert "auth.allow already lists exactly" in out.stdout, out.stdout

    # replace-host: the new storage VM's address in, the dead one's out, the SR keeps working
    old_ip = pool.node_of("lab-host-2").ip
    pool.node_of("lab-host-2").kill()
    out = xosan_cli(pool, "replace-host", "lab-host-2", "--dry-run")
    assert out.returncode == 0 and "remove %s" % old_ip in out.stdout, out.stdout
    h = pool.ops().replace("lab-host-2", "lab-host-2", heal_timeout=300)
    assert h.verdict == health.HEALTHY, h.reason
    new_ip = pool.node_of("lab-host-2").ip
    assert new_ip != old_ip
    allow = auth_allow(pool).split(",")
    assert new_ip in allow and old_ip not in allow, (allow, old_ip, new_ip)
    assert allow == expected(pool)
    assert read_sha(pool.mount_path("lab-host-2", sr_uuid, "allowed.img")) == want
    after = write_pattern(pool.mount_path("lab-host-2", sr_uuid, "after-replace.img"), b"after")
    assert read_sha(pool.mount_path("lab-host-1", sr_uuid, "after-replace.img")) == after
    assert_stranger_filtered(pool)


def test_add_host_puts_the_new_storage_vm_in_the_list_before_it_joins(pool62):
    m2 = pool62.manifest(hosts="lab-host-1,lab-host-2")
    sr, _ = pool62.deployment(m2).run()
    sr_uuid = pool62.sim.db["SR"][sr]["uuid"]
    before = auth_allow(pool62).split(",")
    assert before == expected(pool62)   # host 3's dom0 is in (it mounts the SR), no storage VM there yet
    h = pool62.ops(m2).add(["lab-host-3"], heal_timeout=300)
    assert h.verdict == health.HEALTHY, h.reason
    allow = auth_allow(pool62).split(",")
    new_ip = pool62.node_of("lab-host-3").ip
    assert new_ip not in before and new_ip in allow and allow == expected(pool62)
    # the new node's arbiter brick healed: its self-heal daemon and bricks talk from an allowed address
    want = write_pattern(pool62.mount_path("lab-host-3", sr_uuid, "grown.img"), b"grown")
    assert read_sha(pool62.mount_path("lab-host-1", sr_uuid, "grown.img")) == want
    assert_stranger_filtered(pool62)
