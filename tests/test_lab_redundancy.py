"""Back to full redundancy by itself, and the verdict saying so (issue 13 item 6), on the real lab.

A data node crashes under a writer and comes back; for a while the FUSE client's machine cannot
reach it (what a client that reconnects late looks like: the race of item 6). glusterd lists the
brick online at once; the verdict must still say degraded and why (the client not reconnected, the
heal pending) for as long as that lasts, and turn healthy by itself once the client is back and the
self-heal daemons are done: nothing here runs `gluster volume heal`. No timing is asserted beyond a
generous bound for "by itself" (the measured times are make chaos's, docs/reliability.md)."""

import os
import subprocess
import sys
import time

import pytest
from labutil import lab_name, lab_subnet, three_node_lab

from xosan.gluster import health

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))

import chaos  # noqa: E402

pytestmark = pytest.mark.gluster

VOLUME = "xosan"
BOUND = 180     # s: generous; full redundancy must come by itself
HOLD_BACK = 12  # s the client's machine cannot reach the returned node


def _poll(cli, until, timeout, seen):
    """health.collect every second until ``until(h)``; every verdict is kept in ``seen``."""
    deadline = time.time() + timeout
    while True:
        h = health.collect(cli, VOLUME)
        seen.append((round(time.time(), 1), h.verdict, h.reason))
        if until(h):
            return h
        if time.time() > deadline:
            raise AssertionError("not reached in %d s; verdicts seen:\n%s" % (
                timeout, "\n".join("%s %s: %s" % v for v in seen[-8:])))
        time.sleep(1)


def test_a_returned_node_is_degraded_with_the_reason_until_redundant_by_itself(tmp_path):
    with three_node_lab(str(tmp_path / "lab"), lab_name("xh"), lab_subnet(80)) as lab:
        n1, n2, n3 = lab.nodes
        mnt = str(tmp_path / "mnt")
        os.makedirs(mnt)
        subprocess.check_call(["mount", "-t", "glusterfs", "-o", "backup-volfile-servers=%s:%s" % (n2.ip, n3.ip),
                               "%s:/%s" % (n1.ip, VOLUME), mnt])
        writer = None
        try:
            writer = chaos.RecordWriter(os.path.join(mnt, "vm.img"), file_size=128 * chaos.MiB, slots=32,
                                        pause=0.05)
            writer.fill()
            writer.start()
            cli = lab.node_cli(n1)
            seen = []
            _poll(cli, lambda h: h.verdict == health.HEALTHY, BOUND, seen)
            brick = [b.name for b in health.collect(cli, VOLUME).bricks if b.host == n2.ip][0]

            n2.kill()
            time.sleep(5)
            h = health.collect(cli, VOLUME)
            assert h.verdict == health.DEGRADED and "brick(s) down (%s)" % n2.ip in h.reason, h.reason

            n2.start()
            lab.save()
            n2.block(lab.host_ip)
            blocked_at = time.time()
            back = []
            # glusterd soon lists the brick online; what it cannot show there is the missing client
            h = _poll(cli, lambda h: all(b.online for b in h.bricks), 60, back)
            while True:
                assert h.verdict == health.DEGRADED, (h.verdict, h.reason)
                if "%s not (re)connected to brick %s" % (lab.host_ip, brick) in h.reason or \
                        ("clients (%s" % lab.host_ip in h.reason and "connected to brick %s" % brick in h.reason):
                    break
                assert time.time() - blocked_at < HOLD_BACK, back
                h = health.collect(cli, VOLUME)
                back.append((round(time.time(), 1), h.verdict, h.reason))
            assert not chaos.client_connected(mnt, VOLUME)  # the client's own view agrees
            assert h.may_fail == 0 and "can lose no more storage node(s)" in h.reason
            time.sleep(max(0.0, HOLD_BACK - (time.time() - blocked_at)))
            h = health.collect(cli, VOLUME)
            assert h.verdict == health.DEGRADED, h.reason  # still cut from the client: never healthy

            n2.unblock(lab.host_ip)
            after = []
            h = _poll(cli, lambda h: h.verdict == health.HEALTHY, BOUND, after)
            # every verdict on the way said degraded, with a reason, never at-risk and never healthy early
            assert all(v == health.DEGRADED and r for _, v, r in after[:-1]), after
            assert "can lose 1 storage node" in h.reason and h.may_fail == 1
            # healthy means what the client and glusterd see, not just the verdict's inputs
            assert chaos.client_connected(mnt, VOLUME)
            assert chaos.heal_pending(lab, VOLUME) == 0
            writer.stop()
            checked, problems = chaos.verify_records(writer.path, writer)
            assert checked == 32 and problems == []
            assert chaos.split_brain_count(lab, VOLUME) == 0
        finally:
            if writer is not None and writer.is_alive():
                try:
                    writer.stop()
                except Exception:
                    pass
            if n2.running():
                n2.unblock(lab.host_ip)
            subprocess.call(["umount", "-l", mnt])
