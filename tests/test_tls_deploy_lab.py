"""``tls: io`` through deploy on the lab's simulated pool: certificates onto the storage VMs (SSH) and
the dom0s (host plugin, in each lab dom0's own /var/lib), the volume's I/O path under TLS, the SR
plugged and re-plugged over it, and a client of an allowed dom0 address without the deployment's
certificate refused by the bricks."""

import os
import subprocess
import uuid

import pytest
from labpool import pool_fixture
from smdriver import Driver

from xosan.gluster import health, tls
from xosan.pool import certs
from xosan.pool.certs import DeploymentCA

pytestmark = pytest.mark.gluster

pool2 = pool_fixture(3, 30)  # deployed on 2 hosts; the third is compute-only until add-host


def _probe(pool, host_name, folder, work, name):
    """A FUSE client started in ``host_name``'s lab dom0 (its address is in auth.allow) whose files
    are in ``folder``: (mounted and writable, its log). Stopped before returning."""
    [(host, _)] = pool.sim.find("host", name_label=host_name)
    dom0 = pool.sim.dom0(host)
    mp, log, pid = [os.path.join(work, name + ext) for ext in ("", ".log", ".pid")]
    os.makedirs(mp, exist_ok=True)
    p = tls.file_paths(folder)
    servers = " ".join("--volfile-server=%s" % n.ip for n in pool.lab.nodes)
    script = "; ".join([
        "glusterfs --process-name fuse --log-file=%s --pid-file=%s %s --volfile-id=xosan "
        "--xlator-option='*.transport.socket.ssl-own-cert=%s' "
        "--xlator-option='*.transport.socket.ssl-private-key=%s' "
        "--xlator-option='*.transport.socket.ssl-ca-list=%s' %s"
        % (log, pid, servers, p["cert"], p["key"], p["ca"], mp),
        "ok=no",
        "for i in 1 2 3 4 5 6; do if grep -q ' %s fuse' /proc/self/mounts && "
        "timeout 5 sh -c 'echo x > %s/probe-%s' 2>/dev/null; then ok=yes; break; fi; sleep 1; done" % (mp, mp, name),
        "echo $ok",
        "umount %s 2>/dev/null || umount -l %s 2>/dev/null || true" % (mp, mp),
        "[ -f %s ] && kill $(cat %s) 2>/dev/null || true" % (pid, pid)])
    res = subprocess.run(dom0.argv(["sh", "-c", script]), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, env=dom0.env(), timeout=90)
    with open(log) as fh:
        text = fh.read()
    return res.stdout.strip().splitlines()[-1:] == ["yes"], text


def _ha_statefile_attached_from_config(pool, x, sr, host, pbd):
    """XenServer HA with TLS on: the statefile VDI's generated config, run with no XAPI session on
    a host whose PBD is unplugged, mounts the SR through glusterd's TLS management port (volfile)
    and the bricks' TLS I/O path, with only the files deploy gave that dom0. The framework's
    blktap2 half then faults for want of a tapdisk device, which cannot exist here
    (tests/test_sm_contract.py); the VHD is used through the mount, as tapdisk would."""
    sim = pool.sim
    sr_uuid = sim.db["SR"][sr]["uuid"]
    vdi = x.api.VDI.create({"SR": sr, "virtual_size": str(4 * 1024 ** 2), "type": "ha_statefile",
                            "name_label": "statefile", "sharable": True, "read_only": False,
                            "other_config": {}, "sm_config": {}, "xenstore_data": {}, "tags": [],
                            "name_description": ""})
    vdi_uuid = sim.db["VDI"][vdi]["uuid"]
    dconf = sim.db["PBD"][pbd]["device_config"]
    config = sim.driver_for(host).call("vdi_generate_config", dconf, sr_uuid=sr_uuid, sr_ref=sr,
                                       vdi_uuid=vdi_uuid, vdi_ref=vdi)
    x.api.PBD.unplug(pbd)
    dom0 = sim.dom0(host)
    assert not dom0.fuse_mounts()
    res = Driver(dom0).run_raw(config)  # as xapi runs it: no session in the request
    assert "tap" in res.stdout and "<fault>" in res.stdout, res.stdout + res.stderr
    assert len(dom0.fuse_mounts()) == 1, dom0.fuse_mounts()
    path = dom0.path("/var/run/sr-mount/%s/%s.vhd" % (sr_uuid, vdi_uuid))
    block = os.urandom(4096)
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, block, 8192)
        os.fsync(fd)
        assert os.pread(fd, 4096, 8192) == block
    finally:
        os.close(fd)
    Driver(dom0).call("sr_detach", dconf, sr_uuid=sr_uuid)
    x.api.PBD.plug(pbd)
    assert sim.db["PBD"][pbd]["currently_attached"]


def test_deploy_with_io_tls(pool2, tmp_path):
    sim = pool2.sim
    m = pool2.manifest(tls="io", hosts="lab-host-1,lab-host-2")
    d = pool2.deployment(m)
    assert "GlusterFS TLS on the I/O path (tls: io): costs 4K random read 0.61x" in d.describe_plan(*d.plan())
    sr, cli = d.run()
    [info] = cli.volume_info("xosan")
    ca = certs.of_deployment(d.access)
    names = ca.names()
    assert len(names) == 5  # 2 storage VMs + the dom0 of every pool host (each mounts the SR)
    assert info.options["client.ssl"] == info.options["server.ssl"] == "on"
    assert info.options["auth.ssl-allow"] == ",".join(names)
    folder = tls.cert_dir("xosan")
    for node in pool2.lab.nodes:  # each storage VM holds its own certificate at the options' path
        out = node.run(["sh", "-c", "openssl x509 -noout -subject -in %s/glusterfs.pem; stat -c %%a %s/glusterfs.key"
                        % (folder, folder)]).stdout
        assert "xosan-xosan-node-" in out and out.split()[-1] == "600"
    assert not os.path.exists(folder)  # nothing on this machine's own path
    # every dom0 has its own certificate where its FUSE client reads it, and the SR works over TLS
    for rec in sim.db["host"].values():
        cert = sim.dom0_path(rec["name_label"], folder + "/glusterfs.pem")
        assert open(cert).read() == open(ca.identity(ca.name_for("dom0", rec["name_label"])).cert).read()
        data = os.urandom(4096)
        path = pool2.mount_path(rec["name_label"], sim.db["SR"][sr]["uuid"], "tls-%s" % uuid.uuid4().hex[:6])
        with open(path, "wb") as fh:
            fh.write(data)
        with open(path, "rb") as fh:
            assert fh.read() == data
    # the SR re-attaches with TLS on (PBD unplug / plug: what a boot or a toolstack restart does)
    x = d.x
    host1 = [h for h, r in sim.db["host"].items() if r["name_label"] == "lab-host-1"][0]
    [pbd] = [p for p in sim.db["SR"][sr]["PBDs"] if sim.db["PBD"][p]["host"] == host1]
    x.api.PBD.unplug(pbd)
    assert not sim.db["PBD"][pbd]["currently_attached"]
    x.api.PBD.plug(pbd)
    assert sim.db["PBD"][pbd]["currently_attached"]
    path = pool2.mount_path("lab-host-1", sim.db["SR"][sr]["uuid"], "after-replug")
    with open(path, "w") as fh:
        fh.write("ok")
    _ha_statefile_attached_from_config(pool2, x, sr, host1, pbd)
    # a client at an allowed address (lab-host-2's dom0) that lacks the deployment's certificate:
    # none at all, or one of the same name from another CA
    work = str(tmp_path / "probe")
    os.makedirs(work)
    ok, log = _probe(pool2, "lab-host-2", str(tmp_path / "none"), work, "nocert")
    assert not ok and "could not load our cert" in log and "attached to remote volume" not in log
    other = DeploymentCA(str(tmp_path / "other"), "xosan")
    certs.install(other.ensure_identity(ca.name_for("dom0", "lab-host-2")), str(tmp_path / "forged"))
    ok, log = _probe(pool2, "lab-host-2", str(tmp_path / "forged"), work, "forged")
    assert not ok and "attached to remote volume" not in log
    # the same probe with the deployment's own certificate does get in (the probe itself works)
    certs.install(ca.identity(ca.name_for("dom0", "lab-host-2")), str(tmp_path / "good"))
    ok, log = _probe(pool2, "lab-host-2", str(tmp_path / "good"), work, "good")
    assert ok, log[-2000:]
    assert "IO path is ENABLED" in log
    # a re-run changes nothing: same certificates, the volume left running
    before = [open(ca.identity(n).cert).read() for n in names]
    d2 = pool2.deployment(m)
    d2.run()
    assert [open(ca.identity(n).cert).read() for n in names] == before and ca.names() == names
    # add-host: the new storage VM gets its certificate before it joins, and auth.ssl-allow follows
    h = pool2.ops(m).add(["lab-host-3"], heal_timeout=300)
    assert h.verdict == health.HEALTHY, h.reason
    new_cn = ca.name_for("node", "lab-host-3")
    assert new_cn not in names and set(ca.names()) == set(names) | {new_cn}
    [info] = cli.volume_info("xosan")
    assert set(info.options["auth.ssl-allow"].split(",")) == set(names) | {new_cn}
    node3 = pool2.node_of("lab-host-3")
    out = node3.run(["openssl", "x509", "-noout", "-subject", "-in", folder + "/glusterfs.pem"]).stdout
    assert new_cn in out
    # the SR goes on over TLS through the new node: a write on host 3 reads back on host 1
    sr_uuid = sim.db["SR"][sr]["uuid"]
    data = os.urandom(8192)
    with open(pool2.mount_path("lab-host-3", sr_uuid, "after-add"), "wb") as fh:
        fh.write(data)
    with open(pool2.mount_path("lab-host-1", sr_uuid, "after-add"), "rb") as fh:
        assert fh.read() == data
