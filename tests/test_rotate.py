"""Rotation without a pool: the renew keeps the CA and changes serial and key; the plan changes nothing;
a state dir without the CA is a clear error."""

import os

import pytest

from xosan.pool import certs, rotate
from xosan.pool.certs import CertError, DeploymentCA


@pytest.fixture
def ca(tmp_path):
    c = DeploymentCA(str(tmp_path / "xosan" / "tls"), "xosan")
    c.ensure_ca()
    return c


def _read(path):
    with open(path) as fh:
        return fh.read()


def test_renew_keeps_the_ca_and_changes_serial_and_key(ca):
    name = ca.name_for("node", "h1")
    ident = ca.ensure_identity(name)
    ca_before, key_before, serial_before = _read(ca.ca_cert), _read(ident.key), certs.serial_of(ident.cert)
    again = ca.renew_identity(name)
    assert again.cert == ident.cert and _read(ca.ca_cert) == ca_before
    assert certs.serial_of(ident.cert) != serial_before and _read(ident.key) != key_before
    ca.verify(name)
    assert os.stat(ident.key).st_mode & 0o777 == 0o600
    assert ca.names() == [name]  # the kept .old pair and no .new left over do not count as names
    assert not os.path.exists(ident.cert + ".new") and os.path.exists(ident.cert + ".old")


def test_renew_without_the_ca_is_a_clear_error(tmp_path):
    c = DeploymentCA(str(tmp_path / "nowhere"), "xosan")
    with pytest.raises(CertError, match="CA of xosan is not in"):
        c.renew_identity(c.name_for("node", "h1"))


def test_parse_serial_one_spelling():
    assert certs.parse_serial("serial=00AB12\n") == "AB12"
    with pytest.raises(CertError):
        certs.parse_serial("no serial here")


class _Target(object):
    def __init__(self, out):
        self.out, self.calls = out, []

    def run(self, argv, timeout=None):
        self.calls.append(argv)
        return type("R", (), {"stdout": self.out})()


class _CLI(object):
    def where(self):
        return "10.0.0.11"

    def volume_info(self, vol):
        return [type("I", (), {"options": {"client.ssl": "on", "server.ssl": "on"}})()]


class _Fake(object):
    """A Deployment's surface as the Rotator uses it, without XAPI or SSH."""

    def __init__(self, state):
        self.id = "xosan"
        self.out = open(os.devnull, "w")
        self.access = type("A", (), {"key_dir": os.path.join(state, "xosan", "ssh"), "id": "xosan",
                                     "target": lambda s, a: _Target("on\n")})()
        self.inventory = type("Inv", (), {"storage_vms": lambda s: {"h1": ("vm1", {}, "10.0.0.11")}})()
        self.cluster = type("C", (), {"any_cli": lambda s: _CLI()})()
        self.m = type("M", (), {"witness": None})()
        hosts = {"OpaqueRef:h1": {"name_label": "h1"}, "OpaqueRef:h2": {"name_label": "h2"}}
        self.x = type("X", (), {"api": type("Api", (), {"host": type("H", (), {"get_all_records": None})()})(),
                                "call": lambda s, fn: hosts})()


def test_plan_changes_nothing_and_reads_tls_from_the_cluster(tmp_path):
    state = str(tmp_path)
    ca = DeploymentCA(certs.tls_dir(state, "xosan"), "xosan")
    names = [ca.ensure_identity(ca.name_for(r, n)).name for r, n in (("node", "h1"), ("dom0", "h1"), ("dom0", "gone"))]
    files = dict((f, _read(os.path.join(ca.dir, f))) for f in os.listdir(ca.dir))
    plan = rotate.Rotator(_Fake(state)).plan()
    assert dict((f, _read(os.path.join(ca.dir, f))) for f in os.listdir(ca.dir)) == files
    assert plan.management is True and plan.io is True and not plan.done
    assert [(m.kind, m.host) for m in plan.machines] == [("node", "h1"), ("dom0", "h1")]  # h2 has no certificate
    assert plan.unknown == [names[2]]  # a replaced host's CN is left alone, and said
    for m in plan.machines:
        assert m.serial == certs.serial_of(ca.identity(m.cn).cert) and m.not_after.endswith("Z")
    assert plan.new_not_after and plan.as_dict()["machines"][0]["status"] == "planned"


def test_plan_of_a_state_dir_without_ca_says_which_folder(tmp_path):
    with pytest.raises(CertError, match="has no CA in .*xosan/tls: nothing to rotate"):
        rotate.Rotator(_Fake(str(tmp_path))).plan()


def test_the_command_is_registered():
    from xosan.cli.main import build_parser
    args = build_parser().parse_args(["rotate-certs", "--yes", "--json", "--addresses", "10.0.0.0/24"])
    assert args.yes and args.json and args.func.__name__ == "cmd_rotate_certs"
