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
