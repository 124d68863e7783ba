"""The access list's computation (xosan/pool/allow.py) and the packet filter it becomes
(xosan/pool/firewall.py), without a pool."""

import os
import subprocess
import tempfile

import pytest

from xosan import facts
from xosan.errors import DeployError, XosanError
from xosan.pool import allow, firewall, storage_vm
from xosan.pool.allow import AccessList, allowed, describe_change, option_value, parse_option


def test_allowed_is_every_address_once_in_numeric_order():
    got = allowed(["10.0.50.12", "10.0.50.11", "10.0.50.12"], ["10.0.50.101", "10.0.50.9", None, ""],
                  "10.0.50.200")
    assert got == ["10.0.50.9", "10.0.50.11", "10.0.50.12", "10.0.50.101", "10.0.50.200"]
    # numeric, not text order: .101 after .11, not before
    assert allowed(["10.0.0.101", "10.0.0.11"], []) == ["10.0.0.11", "10.0.0.101"]


def test_allowed_takes_a_named_witness_and_no_witness():
    assert allowed(["10.0.50.11"], ["10.0.50.101"], "witness.example.net") == \
        ["10.0.50.11", "10.0.50.101", "witness.example.net"]
    assert allowed(["10.0.50.11"], ["10.0.50.101"], None) == ["10.0.50.11", "10.0.50.101"]


@pytest.mark.parametrize("bad", ["*", "10.0.50.*", "10.0.50.11,10.0.50.12", "10.0.50.300", "a b"])
def test_allowed_refuses_what_would_widen_the_list(bad):
    with pytest.raises(DeployError) as err:
        allowed(["10.0.50.11"], [bad])
    assert repr(bad) in str(err.value) and allow.AUTH_ALLOW in str(err.value)


def test_option_value_and_its_parse_round_trip():
    addresses = ["10.0.50.11", "10.0.50.101"]
    assert option_value(addresses) == "10.0.50.11,10.0.50.101"
    assert parse_option(option_value(addresses)) == addresses
    with pytest.raises(DeployError):
        option_value([])   # never "" nor "*": both would not restrict anything


@pytest.mark.parametrize("value", [None, "", "*", "10.0.50.11,*"])
def test_parse_option_everyone(value):
    assert parse_option(value) is None


def test_describe_change():
    assert describe_change(None, ["a1", "a2"]).startswith("auth.allow is unset (anyone")
    assert describe_change(["a1", "a2"], ["a1", "a2"]) == "auth.allow already lists exactly a1, a2"
    assert describe_change(["a1", "old"], ["a1", "new"]) == "auth.allow: add new; remove old"


class _Api(object):
    def __init__(self, pifs):
        self.PIF = type("PIF", (), {"get_all_records": staticmethod(lambda: pifs)})


class _Xapi(object):
    def __init__(self, pifs):
        self.api = _Api(pifs)

    def call(self, fn, *args):
        return fn(*args)


class _Inventory(object):
    def __init__(self, vms):
        self.vms = vms

    def mine(self, cls):
        assert cls == "VM"
        return self.vms


def _vm(ip, power="Running"):
    return ("OpaqueRef:vm-" + ip, {"power_state": power,
                                   "xenstore_data": storage_vm.xenstore_data({"ip": ip}),
                                   "other_config": {facts.TAG_DEPLOYMENT: "xosan"}})


def test_access_list_from_the_pool_records():
    pifs = {"p1": {"network": "net", "IP": "10.0.50.101"}, "p2": {"network": "net", "IP": "10.0.50.102"},
            "p3": {"network": "net", "IP": ""},                    # a host without an address yet
            "p4": {"network": "management", "IP": "192.168.1.5"}}  # not the storage network
    vms = [_vm("10.0.50.11"), _vm("10.0.50.12", "Halted"), _vm("10.0.50.13")]
    acl = AccessList(_Xapi(pifs), _Inventory(vms), "xosan", witness="10.0.50.250")
    assert acl.wanted("net") == ["10.0.50.11", "10.0.50.12", "10.0.50.13", "10.0.50.101", "10.0.50.102",
                                 "10.0.50.250"]
    # a replaced VM whose record still exists leaves the list
    assert "10.0.50.12" not in acl.wanted("net", exclude=["10.0.50.12"])
    # the packet filter goes only where it can be loaded now
    assert acl.running_vm_addresses() == ["10.0.50.11", "10.0.50.13"]


class _Progress(object):
    def __init__(self):
        self.lines = []

    def info(self, text):
        self.lines.append(text)


class _Info(object):
    def __init__(self, options):
        self.options = options


class _Cli(object):
    def __init__(self, options):
        self.options = options
        self.sets = []

    def volume_info(self, volume):
        return [_Info(self.options)]

    def volume_set(self, volume, option, value):
        self.sets.append((volume, option, value))
        self.options[option] = value


def test_enforce_sets_only_when_different():
    acl = AccessList(_Xapi({}), _Inventory([]), "xosan")
    cli = _Cli({})
    p = _Progress()
    acl.enforce(p, cli, ["10.0.50.11", "10.0.50.101"])
    assert cli.sets == [("xosan", "auth.allow", "10.0.50.11,10.0.50.101")]
    assert "was unset: everyone" in p.lines[-1]
    acl.enforce(p, cli, ["10.0.50.11", "10.0.50.101"])
    assert len(cli.sets) == 1 and p.lines[-1].endswith("(unchanged)")


def test_ruleset_accepts_the_list_and_drops_the_rest():
    rules = firewall.ruleset(["10.0.50.101", "10.0.50.11", "10.0.50.11"])
    assert "ip saddr { 10.0.50.11, 10.0.50.101 } tcp dport { 24007, 24008, 49152-60999 } accept" in rules
    lines = [ln.strip() for ln in rules.splitlines()]
    # loopback and replies first, the allowed addresses next, then the drop: nft stops at the first verdict
    order = [lines.index(x) for x in ('iif "lo" accept', "ct state established,related accept")]
    accept = [i for i, ln in enumerate(lines) if ln.startswith("ip saddr")][0]
    drop = lines.index("tcp dport { 24007, 24008, 49152-60999 } drop")
    assert order[0] < order[1] < accept < drop
    with pytest.raises(DeployError):
        firewall.ruleset([])


def test_ruleset_refuses_a_witness_name_that_does_not_resolve(monkeypatch):
    def no_such_name(*args):  # no resolver asked: tests talk to nothing off this machine
        raise firewall.socket.gaierror(-2, "Name or service not known")
    monkeypatch.setattr(firewall.socket, "getaddrinfo", no_such_name)
    with pytest.raises(XosanError) as err:
        firewall.ruleset(["10.0.50.11", "no-such-witness.invalid"])
    assert "no-such-witness.invalid" in str(err.value)


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(firewall.NFT), reason="nft --check needs root and nft")
def test_ruleset_is_valid_nft():
    """nft's own parser in check mode (-c): nothing is loaded."""
    with tempfile.NamedTemporaryFile("w", suffix=".nft") as fh:
        fh.write(firewall.ruleset(["10.0.50.11", "10.0.50.101"]))
        fh.flush()
        res = subprocess.run([firewall.NFT, "-c", "-f", fh.name], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True)
    assert res.returncode == 0, res.stdout


def test_apply_command_writes_then_loads():
    argv = firewall.apply_command(["10.0.50.11"])
    assert argv[:2] == ["sh", "-c"] and firewall.NFT in argv[2]
    assert argv[-1] == firewall.RULES_PATH and "ip saddr { 10.0.50.11 }" in argv[-2]
