"""The gluster CLI's XML answers, as captured from glusterfs 10.3 (tests/data/gluster)."""

import os

import pytest

from xosan import gluster
from xosan.errors import GlusterError, ServerUnreachable, VolumeNotFound

DATA = os.path.join(os.path.dirname(__file__), "data", "gluster")


def data(name):
    with open(os.path.join(DATA, name)) as fh:
        return fh.read()


def test_volume_info_replica_3_arbiter_1():
    [vol] = gluster.parse_volume_info(data("volume-info.xml"))
    assert vol.name == "xosan" and vol.started and vol.type == "Replicate"
    assert (vol.replica, vol.arbiter) == (3, 1)
    assert [b.is_arbiter for b in vol.bricks] == [False, False, True]
    assert vol.hosts() == ["10.250.78.11", "10.250.78.12", "10.250.78.13"]
    assert vol.options["features.shard"] == "on"
    assert vol.options["network.ping-timeout"] == "5"


def test_missing_volume_is_an_error_with_glusterds_text():
    with pytest.raises(GlusterError) as err:
        gluster.parse_volume_info(data("volume-info-missing.xml"))
    assert "Volume does not exist" in str(err.value) and err.value.op_errno == 30806


def test_volume_and_pool_lists():
    assert gluster.parse_volume_list(data("volume-list.xml")) == ["xosan"]
    peers = gluster.parse_pool_list(data("pool-list.xml"))
    assert len(peers) == 3 and all(p.connected for p in peers)
    assert "localhost" in [p.hostname for p in peers]


def test_status_detail_has_capacity_and_down_bricks():
    bricks, shds = gluster.parse_volume_status(data("volume-status-detail.xml"))
    assert len(bricks) == 3 and all(b.online for b in bricks)
    assert bricks[0].size_total > bricks[0].size_free > 0 and bricks[0].fs == "xfs"
    # glusterd leaves out the bricks of a peer it cannot reach: status must be joined with volume info
    bricks, _ = gluster.parse_volume_status(data("volume-status-node-down.xml"))
    assert [b.host for b in bricks] == ["10.250.78.11", "10.250.78.12"] and all(b.online for b in bricks)


def test_heal_info_counts_and_unreachable_brick():
    entries = gluster.parse_heal_info(data("heal-info.xml"))
    assert [e.entries for e in entries] == [0, 0, 0]
    entries = gluster.parse_heal_info(data("heal-info-node-down.xml"))
    assert [e.entries for e in entries] == [0, 0, None]
    assert not entries[2].connected and entries[2].status == "Transport endpoint is not connected"


def test_non_xml_answer_is_reported():
    with pytest.raises(GlusterError) as err:
        gluster.parse_cli_output("Connection failed. Please check if gluster daemon is operational.")
    assert "Connection failed" in str(err.value)


def _fake_cli(tmp_path, script):
    """A ``gluster`` program on PATH that prints what the test wants (for the error paths only)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    prog = bindir / "gluster"
    prog.write_text("#!/bin/sh\n" + script)
    prog.chmod(0o755)
    return str(bindir)


def test_cli_maps_connection_failure_and_missing_volume(tmp_path, monkeypatch):
    bindir = _fake_cli(tmp_path, 'case "$*" in *nosuch*) cat %s;; *) echo "Connection failed. Please check if '
                                 'gluster daemon is operational."; exit 1;; esac\n'
                       % os.path.join(DATA, "volume-info-missing.xml"))
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ["PATH"])
    cli = gluster.GlusterCLI(remote_host="10.0.0.1")
    with pytest.raises(ServerUnreachable) as err:
        cli.volume_info("xosan")
    assert "10.0.0.1" in str(err.value) and "24007" in str(err.value)
    with pytest.raises(VolumeNotFound) as err:
        cli.volume_info("nosuch")
    assert "'nosuch' does not exist" in str(err.value)


def test_cli_timeout_is_unreachable(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _fake_cli(tmp_path, "sleep 5\n") + os.pathsep + os.environ["PATH"])
    with pytest.raises(ServerUnreachable) as err:
        gluster.GlusterCLI(remote_host="10.0.0.2", timeout=0.5).volume_list()
    assert "did not answer" in str(err.value)
