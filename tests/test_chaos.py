"""The short chaos run (the long one is `make chaos`): a checksum-verified, fsync'd writer on the FUSE
mount while a data node is cut off, the arbiter is killed and the other data node is killed, one at a
time. Data safety only: no timing is asserted here (stalls and heal times are `make chaos` targets)."""

import os
import sys

import pytest
from labutil import lab_name, lab_subnet

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))

import chaos  # noqa: E402

pytestmark = pytest.mark.gluster

HEAL_BOUND = 180  # s: generous; a node's return must lead to full redundancy by itself (no forced heal)


def test_records_and_copies_survive_failing_nodes(tmp_path):
    run = chaos.ChaosRun(str(tmp_path / "lab"), lab_id=lab_name("xch"),
                         subnet=lab_subnet(150), file_size=160 * chaos.MiB, slots=64)
    try:
        n1, n2, arbiter = run.lab.node(1), run.lab.node(2), run.lab.node(3)
        run.start()
        results = [chaos.run_cycle(run.lab, run.volume, run.mountpoint, run.writer, i + 1, node, mode,
                                   outage=5, heal_bound=HEAL_BOUND)
                   for i, (node, mode) in enumerate([(n1, "cut"), (arbiter, "kill"), (n2, "kill")])]
        assert [r.role for r in results] == ["data", "arbiter", "data"]
        end = run.finish(heal_bound=HEAL_BOUND)
    finally:
        run.close()
    rows = "\n".join(r.row() for r in results)
    # the volume got back to full redundancy by itself after every failure (no `gluster volume heal`)
    assert all(r.to_redundant is not None for r in results), rows
    assert end["acked_writes"] > len(run.writer.offsets), end
    assert end["records"] == 64 and end["bad_records"] == [], end["bad_records"]
    assert end["pieces"] >= 3 and end["differing"] == [], end["differing"]  # base file + 2 shards at least
    assert end["split_brain"] == 0
    assert end["healed"] and end["heal_pending"] == 0
