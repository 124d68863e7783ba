"""Logging in to a pool member that is not the master (xosan/pool/xapi.py, Xapi.connect):
xapi there answers every login with HOST_IS_SLAVE and the master's address. Run against
the XAPI simulator (xosan_lab/xapi_sim.py, ``master_address``) with the real XenAPI client."""

import subprocess

import pytest

from xosan.errors import XosanError
from xosan.pool import tls
from xosan.pool.xapi import Xapi, XapiError
from xosan_lab.xapi_sim import XapiSim, XapiSimServer


def _serve(sim, tls_files=None):
    return XapiSimServer(sim, tls=tls_files).start()


def _address(server):
    """What the member hands out as the master's address (host:port: the simulators share 127.0.0.1)."""
    return "%s:%d" % server.server.server_address[:2]


def _logins(sim):
    return [list(p[:2]) for m, p in sim.calls if m == "session.login_with_password"]


@pytest.fixture
def servers():
    started = []

    def start(sim, tls_files=None):
        s = _serve(sim, tls_files)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


def test_a_member_sends_the_login_to_the_master(servers):
    master = servers(XapiSim())
    host = master.sim.add("host", {"name_label": "master-host"})
    member = servers(XapiSim())
    member.sim.master_address = _address(master)
    x = Xapi.connect(member.url, "root", "xosan")
    try:
        assert x.url == "http://%s" % _address(master)
        assert x.api.host.get_all() == [host]  # calls go to the master
        # the member was asked once, with the same credentials the master then took
        assert _logins(member.sim) == [["root", "xosan"]] and _logins(master.sim) == [["root", "xosan"]]
        assert len(member.sim.sessions) == 0 and len(master.sim.sessions) == 1
    finally:
        x.logout()


def test_the_master_refusing_the_password_says_so(servers):
    master = servers(XapiSim(password="other"))
    member = servers(XapiSim())
    member.sim.master_address = _address(master)
    with pytest.raises(XapiError) as err:
        Xapi.connect(member.url, "root", "xosan")
    assert err.value.code == "SESSION_AUTHENTICATION_FAILED"
    assert _address(master) in str(err.value)


def test_two_members_naming_each_other_are_an_error_not_a_loop(servers):
    a, b = servers(XapiSim()), servers(XapiSim())
    a.sim.master_address, b.sim.master_address = _address(b), _address(a)
    with pytest.raises(XosanError) as err:
        Xapi.connect(a.url, "root", "xosan")
    assert "not the pool master either" in str(err.value) and a.url in str(err.value)
    assert len(_logins(a.sim)) == 1 and len(_logins(b.sim)) == 1


def test_a_pinned_member_is_not_followed(servers, tmp_path):
    # the pin is for the member's certificate: the master's would not match it
    cert, key = str(tmp_path / "xapi.crt"), str(tmp_path / "xapi.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=xcp-member",
                    "-days", "2", "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    printed = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", cert],
                             check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    member = servers(XapiSim(), tls_files=(cert, key))
    member.sim.master_address = "10.0.50.1"
    with pytest.raises(XosanError) as err:
        Xapi.connect(member.url, "root", "xosan", fingerprint=tls.normalize_fingerprint(printed))
    assert "is not the pool master; the master is 10.0.50.1" in str(err.value)
    assert "fingerprint" in str(err.value)
