"""Attach's quorum wait when dom0 has no gluster CLI: it can only count answering storage nodes."""

import socket

import pytest

from xosan.errors import QuorumTimeout
from xosan.sr import boot, reachability


@pytest.fixture
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)  # nobody accepts: the backlog must hold every probe
    yield srv.getsockname()[1]
    srv.close()


def test_without_gluster_cli_a_majority_of_answering_nodes_is_enough(listener, monkeypatch):
    monkeypatch.setattr(boot, "gluster_cli_available", lambda: False)
    monkeypatch.setattr(reachability, "GLUSTERD_PORT", listener)
    orig = reachability.order_by_reachability
    monkeypatch.setattr(boot, "order_by_reachability", lambda servers: orig(servers, port=listener, timeout=1))
    ok, why, info = boot.quorum_state(["127.0.0.1", "127.0.0.2"], "xosan")
    assert (ok, info) == (False, None) and "only 1 of 2" in why
    ok, why, info = boot.quorum_state(["127.0.0.1"], "xosan")
    assert ok and info is None
    with pytest.raises(QuorumTimeout) as err:
        boot.wait_for_quorum(["127.0.0.1", "127.0.0.3"], "xosan", timeout=1, log=lambda m: None, poll=0.2)
    assert "only 1 of 2" in str(err.value) and "attach-timeout" in str(err.value)
