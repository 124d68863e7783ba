"""``xosan rotate-certs --yes`` on the lab's simulated pool with management TLS (and I/O TLS): every
machine gets a new leaf of the same CA while a dom0 writes, the volume never stops, and what glusterd
and a brick show to a NEW connection after the files change is recorded (docs/security-tls.md)."""

import json
import os
import threading
import time

import pytest
from labpool import pool_fixture

from xosan.cli.main import main
from xosan.gluster import tls
from xosan.pool import certs

pytestmark = pytest.mark.gluster

pool3 = pool_fixture(3, 252)
pool3io = pool_fixture(3, 253)


def _writer(path, stop, errors, count):
    n = 0
    while not stop.is_set():
        try:
            with open(path, "ab") as fh:
                fh.write(b"%08d" % n * 512)
                fh.flush()
                os.fsync(fh.fileno())
            n += 1
            count[0] = n
        except OSError as exc:
            errors.append(str(exc))
        time.sleep(0.1)


def _node_serial(node, path):
    return certs.parse_serial(node.run(["openssl", "x509", "-noout", "-serial", "-in", path]).stdout)


def _shown(node, port, folder):
    out = node.run(["sh", "-c", certs.s_client_command(node.ip, port, folder) + " | openssl x509 -noout -serial"],
                   check=False).stdout
    return certs.parse_serial(out) if "serial=" in out else None


def _rotate(pool, mode, capsys):
    sim = pool.sim
    d = pool.deployment(pool.manifest(tls=mode))
    sr, cli = d.run()
    sr_uuid = sim.db["SR"][sr]["uuid"]
    ca = certs.of_deployment(d.access)
    folder = tls.cert_dir("xosan")
    before = dict((n, certs.serial_of(ca.identity(n).cert)) for n in ca.names())
    bricks = [(b.host, b.port) for b in cli.volume_status("xosan")[0] if b.port] if mode == "io" else []
    args = ["rotate-certs"] + pool.cli_args(tls=mode)
    capsys.readouterr()
    assert main(args) == 0  # the dry run: a plan, nothing changed
    plan = capsys.readouterr().out
    assert "Run again with --yes" in plan and "management TLS on" in plan, plan
    assert dict((n, certs.serial_of(ca.identity(n).cert)) for n in ca.names()) == before
    stop, errors, count = threading.Event(), [], [0]
    w = threading.Thread(target=_writer, args=(pool.mount_path("lab-host-2", sr_uuid, "w"), stop, errors, count))
    w.start()
    try:
        time.sleep(1)
        t0 = time.time()
        rc = main(args + ["--yes", "--json"])
        out = json.loads(capsys.readouterr().out)
        took = time.time() - t0
        at_end = count[0]
        time.sleep(1.5)
    finally:
        stop.set()
        w.join(30)
    assert rc == 0, out
    assert not errors, errors
    assert count[0] > at_end  # writes went on after the rotation
    after = dict((n, certs.serial_of(ca.identity(n).cert)) for n in ca.names())
    assert set(after) == set(before) and all(after[n] != before[n] for n in after)
    for m in out["machines"]:
        assert m["status"] == "renewed" and m["new_serial"] == after[m["cn"]]
    mgmt_dir = "/usr/lib/ssl"
    for n in pool.lab.nodes:
        for where in (folder, mgmt_dir):
            path = "%s/%s" % (where, tls.OWN_CERT)
            assert _node_serial(n, path) in after.values()
            # the node's own CA list (this machine's /tmp is not the node's): the deployment's CA, unchanged
            assert n.run(["cat", "%s/%s" % (where, tls.CA_LIST)]).stdout == open(ca.ca_cert).read()
            n.run(["openssl", "verify", "-CAfile", "%s/%s" % (where, tls.CA_LIST), path])
    for rec in sim.db["host"].values():
        cn = ca.name_for("dom0", rec["name_label"])
        for where in (folder, mgmt_dir):
            assert certs.serial_of(sim.dom0_path(rec["name_label"], where + "/glusterfs.pem")) == after[cn]
    # what a NEW connection is shown now (the measurement docs/security-tls.md reports)
    glusterd = dict((m["address"], m["glusterd"]) for m in out["machines"] if m["kind"] == "node")
    shown_bricks = dict(("%s:%s" % hp, _shown([n for n in pool.lab.nodes if n.ip == hp[0]][0], hp[1], folder))
                        for hp in bricks)
    print("ROTATE-MEASURE mode=%s took=%.1fs glusterd=%s bricks=%s new=%s writes=%d" % (
        mode, took, glusterd, shown_bricks, sorted(after.values()), count[0]))
    assert all(v in ("re-read", "restarted") for v in glusterd.values()), glusterd
    assert all(v in after.values() for v in shown_bricks.values()), shown_bricks  # no brick was restarted
    # I/O went on: what lab-host-2 wrote reads back from lab-host-3, and a re-plug mounts over the new files
    with open(pool.mount_path("lab-host-2", sr_uuid, "w"), "rb") as fh:
        data = fh.read()
    with open(pool.mount_path("lab-host-3", sr_uuid, "w"), "rb") as fh:
        assert fh.read() == data
    host1 = [h for h, r in sim.db["host"].items() if r["name_label"] == "lab-host-1"][0]
    [pbd] = [p for p in sim.db["SR"][sr]["PBDs"] if sim.db["PBD"][p]["host"] == host1]
    d.x.api.PBD.unplug(pbd)
    d.x.api.PBD.plug(pbd)
    with open(pool.mount_path("lab-host-1", sr_uuid, "after-rotate"), "w") as fh:
        fh.write("ok")
    with open(pool.mount_path("lab-host-3", sr_uuid, "after-rotate")) as fh:
        assert fh.read() == "ok"
    st = certs.status(ca, {}, True)
    assert st["first_to_expire"] in after or st["first_to_expire"].endswith("-ca")
    assert st["not_after"][:10] in st["line"]
    return out


def test_rotate_with_management_tls(pool3, capsys):
    out = _rotate(pool3, "management", capsys)
    assert out["management"] is True and out["io"] is False


def test_rotate_with_io_tls(pool3io, capsys):
    out = _rotate(pool3io, "io", capsys)
    assert out["management"] is True and out["io"] is True
