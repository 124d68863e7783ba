"""The pieces deploy and the day-2 operations share, where they need no pool: the address plan."""

import pytest

from xosan.errors import DeployError, XosanError
from xosan.pool.network import StorageNetwork


class Spec(object):
    def __init__(self, addresses, gateway=None):
        self.addresses, self.gateway, self.name, self.mode = addresses, gateway, "XOSAN storage", "existing"


class NoXapi(object):
    api = None


def network(addresses, gateway=None, witness=None):
    return StorageNetwork(NoXapi(), None, Spec(addresses, gateway), witness=witness)


def test_each_planned_host_gets_a_storage_vm_and_a_dom0_address():
    n = network("10.0.50.7/24")  # a host address in the manifest means its network
    assert str(n) == "10.0.50.0/24"
    assert n.host_addresses(0) == ("10.0.50.11", "10.0.50.101")
    assert n.host_addresses(15) == ("10.0.50.26", "10.0.50.116")
    small = network("10.0.50.0/25")
    assert small.host_addresses(26) == ("10.0.50.37", "10.0.50.127")
    with pytest.raises(DeployError) as err:
        small.host_addresses(27)
    assert err.value.message == "network.addresses 10.0.50.0/25 has no room for 28 hosts"


def test_a_new_storage_vm_takes_the_first_free_address_of_its_range():
    n = network("10.0.50.0/24")
    assert n.free_vm_address({"10.0.50.11", "10.0.50.13"}) == "10.0.50.12"
    with pytest.raises(XosanError) as err:
        n.free_vm_address(set("10.0.50.%d" % i for i in range(11, 100)))
    assert "no free storage address in 10.0.50.0/24" in err.value.message


def test_a_dom0_without_a_planned_address_skips_the_gateway_and_the_witness():
    n = network("10.0.50.0/24", gateway="10.0.50.102", witness="10.0.50.103")
    assert n._free_dom0_address({"10.0.50.101"}) == "10.0.50.104"
    with pytest.raises(DeployError):
        network("10.0.50.0/25")._free_dom0_address(set("10.0.50.%d" % i for i in range(101, 127)))


# -- a failed rebalance is started again, a bounded number of times ----------------------------------

class _RebalancingCLI(object):
    """Answers ``rebalance status`` from a script of per-node states; records each ``rebalance start``."""

    def __init__(self, script):
        self.script = list(script)
        self.starts = 0

    def rebalance_status(self, volume):
        from xosan.gluster.parse import RebalanceNode, RebalanceStatus
        states = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return RebalanceStatus([RebalanceNode("10.0.50.%d" % (11 + i), s) for i, s in enumerate(states)])

    def rebalance_start(self, volume):
        self.starts += 1


class _Lines(object):
    def __init__(self):
        self.lines = []

    def info(self, text):
        self.lines.append(text)


def _cluster(monkeypatch):
    from xosan.pool.cluster import Cluster
    c = Cluster(None, None, "xosan")
    monkeypatch.setattr(c, "wait_heal", lambda p, timeout: "healed")
    return c


def test_a_rebalance_that_failed_on_a_node_is_started_again_and_finishes(monkeypatch):
    cli = _RebalancingCLI([["in progress", "failed", "completed"], ["in progress"] * 3, ["completed"] * 3])
    p = _Lines()
    assert _cluster(monkeypatch).wait_rebalance(p, cli, 60, sleep=lambda s: None) == "healed"
    assert cli.starts == 1
    assert "rebalance failed on 10.0.50.12; starting it again (files already moved stay moved)" in p.lines


def test_a_rebalance_failing_every_time_fails_add_host_naming_the_node(monkeypatch):
    cli = _RebalancingCLI([["completed", "failed", "completed"]])
    with pytest.raises(XosanError) as err:
        _cluster(monkeypatch).wait_rebalance(_Lines(), cli, 60, restarts=2, sleep=lambda s: None)
    assert cli.starts == 2
    assert str(err.value).startswith("rebalance failed on 10.0.50.12; see the rebalance log in those storage VMs "
                                     "(/var/log/glusterfs/xosan-rebalance.log)")
