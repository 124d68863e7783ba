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


# -- which storage VM runs gluster commands (cluster.command_order) ------------------------------

def test_commands_run_from_the_last_volfile_server_and_before_that_from_a_node_no_dom0_mounts_from():
    from xosan.pool.cluster import command_order
    servers = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    assert command_order(["10.0.0.11", "10.0.0.12", "10.0.0.13"], servers)[0] == "10.0.0.13"
    assert command_order(["10.0.0.11", "10.0.0.12"], servers) == ["10.0.0.12", "10.0.0.11"]
    # a node added after the SR was made is in no dom0's list: the best place
    assert command_order(["10.0.0.11", "10.0.0.14", "10.0.0.13"], servers) == ["10.0.0.14", "10.0.0.13", "10.0.0.11"]
    # no SR yet: the given order stays
    assert command_order(["10.0.0.12", "10.0.0.11"], []) == ["10.0.0.12", "10.0.0.11"]


class _FakeInventory(object):
    def __init__(self, vms, servers):
        self.vms, self.servers = vms, servers

    def mine(self, cls):
        return [("OpaqueRef:%s" % ip, {"power_state": state, "other_config": {}, "xosan_ip": ip})
                for ip, state in self.vms]

    def volfile_servers(self):
        return self.servers


class _FakeTarget(object):
    def __init__(self, ip, up):
        self.ip, self.up = ip, up

    def reachable(self, timeout):
        return self.up

    def run(self, argv, timeout=None):
        raise AssertionError("not run here")


def test_any_cli_skips_the_dom0s_volfile_server_while_another_node_answers(monkeypatch):
    from xosan.pool import cluster as cluster_mod
    monkeypatch.setattr(cluster_mod, "address_of", lambda rec: rec["xosan_ip"])
    down = set(["10.0.0.13"])
    access = type("A", (), {"target": lambda s, ip: _FakeTarget(ip, ip not in down)})()
    inv = _FakeInventory([("10.0.0.11", "Running"), ("10.0.0.12", "Running"), ("10.0.0.13", "Running")],
                         ["10.0.0.11", "10.0.0.12", "10.0.0.13"])
    c = cluster_mod.Cluster(access, inv, "xosan")
    assert c.any_cli().where() == "10.0.0.12"  # .13 does not answer, .11 is where the dom0s mount from
    assert c.any_cli(exclude=["10.0.0.12"]).where() == "10.0.0.11"  # the only one left
