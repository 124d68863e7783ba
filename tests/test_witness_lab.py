"""Two hosts + witness, end to end (issue 13 item 7): `xosan witness prepare` writes the witness's
config disk, a lab node outside the simulated pool boots from it (xosan_lab/witness.py: what first
boot does with that disk, as far as a network namespace allows; it does not apply the host name,
the ssh-from policy, MTU, gateway or NTP, and its brick is the lab's loop device, not a blank disk
first boot formats), then `xosan deploy` of 2 hosts with `witness:` puts the arbiter on it, reaching
it over the pinned host key only. With the chaos writer on host 1's SR mount, the storage node of
host 2, the storage node of host 1 and the witness are each killed for a few seconds: the writer
sees no I/O error, every heal finishes, no record is lost or corrupt, no split-brain. No timing is
asserted (stalls and heal times are make chaos's)."""

import json
import os
import subprocess
import sys

import pytest
from labpool import Pool
from labutil import lab_name, lab_subnet, wait_for_heal

from xosan.gluster import ssh
from xosan.pool import witness
from xosan_lab.witness import boot_witness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))

import chaos  # noqa: E402

pytestmark = pytest.mark.gluster

VOLUME = "xosan"
OUTAGE = 4        # s each node stays dead
HEAL_BOUND = 60   # s: generous; the volume must get back to full redundancy by itself
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def pool(tmp_path):
    p = Pool(tmp_path, 2, lab_id=lab_name("xw"), subnet=lab_subnet(20))
    yield p
    p.close()


def _prepare(pool, tmp_path, address):
    """The documented command, as an admin runs it (a separate process, --json)."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-m", "xosan", "witness", "prepare", "--address", address,
                          "--prefix", "24", "--state-dir", pool.state_dir, "--out", str(tmp_path / "witness"),
                          "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                         env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_two_hosts_and_a_prepared_witness_survive_each_node_failing_under_a_writer(pool, tmp_path):
    address = pool.subnet + ".9"
    r = _prepare(pool, tmp_path, address)
    w = boot_witness(pool.lab, r["config_image"])
    assert w.ip == address
    # the key its sshd serves is the one prepare pinned, before anything logged in to it
    access = witness.state_access(pool.state_dir, VOLUME)
    scan = subprocess.run(["ssh-keyscan", "-T", "10", "-t", "ed25519", address], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, universal_newlines=True)
    served = [line for line in scan.stdout.splitlines() if line.startswith(address + " ")]
    assert served and ssh.known_hosts_line(address, served[0].split(None, 1)[1]) == r["pinned"], scan.stdout

    sr, cli = pool.deployment(pool.manifest(witness=address)).run()
    [info] = cli.volume_info(VOLUME)
    assert (info.replica, info.arbiter, len(info.bricks)) == (3, 1, 3)
    h1, h2 = pool.node_of("lab-host-1"), pool.node_of("lab-host-2")
    # the data on the two hosts' storage VMs, the arbiter (GlusterFS's own isArbiter) on the witness
    assert sorted(b.host for b in info.bricks if not b.is_arbiter) == sorted([h1.ip, h2.ip])
    assert [b.host for b in info.bricks if b.is_arbiter] == [address]
    # deploy re-pinned its VMs and kept the witness's pin; SSH to it is verified, never learnt
    with open(access.known_hosts) as fh:
        pins = fh.read().splitlines()
    assert r["pinned"] in pins and len(pins) == 3
    assert access.target(address).run(["true"]).returncode == 0
    # deploy ran its volume commands on the witness, which no dom0 mounts from (cluster.command_order);
    # seen from there, both storage VMs are connected peers
    assert cli.where() == address
    peers = cli.pool_list()
    assert len(peers) == 3 and all(p.connected for p in peers), peers
    assert all([p for p in peers if p.known_as(n.ip)] for n in (h1, h2)), peers

    # the FUSE mount is the volume root; the SR is a directory on it (xosan/sr/volume_sr.py)
    uuid = pool.sim.db["SR"][sr]["uuid"]
    mnt = pool.sim.dom0_path("lab-host-1", "/var/run/sr-mount/xosan/" + uuid)
    state = lambda: "client connected %s, bricks online %s, heal entries %s" % (  # noqa: E731
        chaos.client_connected(mnt, VOLUME), chaos.bricks_online(pool.lab, VOLUME),
        chaos.heal_pending(pool.lab, VOLUME))
    assert chaos.wait_redundant(pool.lab, VOLUME, mnt, 60) is not None, state()
    writer = chaos.RecordWriter(os.path.join(mnt, uuid, "chaos.img"), file_size=96 * chaos.MiB, slots=32, pause=0.05)
    try:
        writer.fill()
        writer.start()
        results = [chaos.run_cycle(pool.lab, VOLUME, mnt, writer, i + 1, node, "kill", OUTAGE, HEAL_BOUND)
                   for i, node in enumerate([h2, h1, w])]
        writer.stop()
        wait_for_heal(pool.lab, VOLUME, timeout=HEAL_BOUND)
        checked, problems = chaos.verify_records(writer.path, writer)
        pieces, differ = chaos.compare_data_copies(pool.lab, VOLUME, os.path.join(uuid, "chaos.img"))
        split = chaos.split_brain_count(pool.lab, VOLUME)
    finally:
        if writer.is_alive():
            writer.stop()
        if writer.fd is not None:
            os.close(writer.fd)
    rows = "\n".join(r.row() for r in results)
    print("\n" + chaos.HEAD + "\n" + rows)  # the measured stalls, for docs/reliability.md (pytest -s)
    assert [x.role for x in results] == ["data", "data", "arbiter"], rows
    assert all(x.errors == 0 for x in results) and writer.errors == [], (rows, writer.errors)
    # I/O went on while each node was down: writes were acknowledged during every outage
    assert all(x.rate_during > 0 for x in results), rows
    assert all(x.to_redundant is not None for x in results), rows  # back by itself, no forced heal
    assert writer.acked_writes() > len(writer.offsets)
    assert checked == 32 and problems == [], problems
    assert pieces >= 2 and differ == [], differ
    assert split == 0
