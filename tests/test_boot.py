"""The boot order (xosan/sr/boot.py): this host's storage VM, found and started through XAPI
(the simulator, with the real XenAPI client), and the quorum wait when dom0 has no gluster CLI."""

import socket
import subprocess

import pytest
import XenAPI

from xosan import facts
from xosan.errors import QuorumTimeout
from xosan.gluster import GlusterCLI, tls
from xosan.sr import boot, devconfig
from xosan.sr.volume_sr import VolumeSR


@pytest.fixture
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)  # nobody accepts: the backlog must hold every probe
    yield srv.getsockname()[1]
    srv.close()


def volume_sr(servers, port, tmp_path):
    conf = devconfig.DeviceConfig(servers, "xosan")
    return VolumeSR(conf, str(tmp_path), "sr", port=port, cli_available=False)


def test_without_gluster_cli_a_majority_of_answering_nodes_is_enough(listener, tmp_path):
    vsr = volume_sr(["127.0.0.1", "127.0.0.2"], listener, tmp_path)
    ok, why, info = boot.quorum_state(vsr)
    assert (ok, info) == (False, None) and "only 1 of 2" in why
    # the probe's answer is what the mount would use
    assert vsr.answering_servers() == ["127.0.0.1"] and vsr.ordered_servers() == ["127.0.0.1", "127.0.0.2"]
    ok, why, info = boot.quorum_state(volume_sr(["127.0.0.1"], listener, tmp_path))
    assert ok and info is None
    logged = []
    with pytest.raises(QuorumTimeout) as err:
        boot.wait_for_quorum(volume_sr(["127.0.0.1", "127.0.0.3"], listener, tmp_path), timeout=1,
                             log=logged.append, poll=0.2)
    assert "only 1 of 2" in str(err.value) and "attach-timeout" in str(err.value)
    assert logged == ["XOSAN: waiting for quorum on volume xosan: only 1 of 2 storage nodes answer "
                      "(no gluster CLI here to ask more)"]  # said once, not at every poll


def test_no_answer_at_all_names_the_servers(tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    ok, why, info = boot.quorum_state(volume_sr(["127.0.0.1", "127.0.0.2"], port, tmp_path))
    assert not ok and why == "no storage node answers (127.0.0.1, 127.0.0.2)"


@pytest.fixture
def api(xapi):
    session = XenAPI.Session(xapi.url)
    session.xenapi.login_with_password("root", "xosan", "1.0", "tests")
    yield session.xenapi
    session.xenapi.session.logout()


def storage_vm(xapi, name, power_state, volume="xosan", host=None, **extra):
    host_uuid = xapi.record("host", host or xapi.host_ref)["uuid"]
    rec = {"name_label": name, "power_state": power_state, "is_a_template": False,
           "other_config": {facts.TAG_DEPLOYMENT: volume, facts.TAG_HOST: host_uuid}, "affinity": "OpaqueRef:NULL"}
    rec.update(extra)
    return xapi.add("VM", rec)


def start_calls(xapi):
    return [p[1] for m, p in xapi.calls if m == "VM.start_on"]


def test_a_halted_storage_vm_of_this_host_is_started(xapi, api):
    mine = storage_vm(xapi, "XOSAN storage VM host1", "Halted")
    other_host = xapi.add("host", {"name_label": "host2", "PBDs": [], "other_config": {}})
    storage_vm(xapi, "XOSAN storage VM host2", "Halted", host=other_host)
    storage_vm(xapi, "other deployment", "Halted", volume="other")
    storage_vm(xapi, "template", "Halted", is_a_template=True)
    logged = []
    assert boot.start_local_storage_vm(api, xapi.host_ref, "xosan", logged.append) == ["XOSAN storage VM host1"]
    assert start_calls(xapi) == [mine]
    assert xapi.record("VM", mine)["power_state"] == "Running"
    assert logged == ["XOSAN: starting storage VM XOSAN storage VM host1 on this host before attaching"]
    # running now: nothing to do the next time
    assert boot.start_local_storage_vm(api, xapi.host_ref, "xosan", logged.append) == []
    assert start_calls(xapi) == [mine] and len(logged) == 1


def test_a_vm_found_by_affinity_only_counts_as_this_hosts(xapi, api):
    vm = xapi.add("VM", {"name_label": "by affinity", "power_state": "Halted", "is_a_template": False,
                         "other_config": {facts.TAG_DEPLOYMENT: "xosan"}, "affinity": xapi.host_ref})
    assert [ref for ref, _ in boot.local_storage_vms(api, xapi.host_ref, "xosan")] == [vm]


@pytest.mark.parametrize("state", ["Paused", "Suspended"])
def test_a_paused_or_suspended_storage_vm_is_left_alone(xapi, api, state):
    """Unpausing or resuming is the admin's call (a suspended VM resumes with its old state,
    a paused one was paused for a reason): the attach says so in SMlog and waits for quorum."""
    vm = storage_vm(xapi, "XOSAN storage VM host1", state)
    logged = []
    assert boot.start_local_storage_vm(api, xapi.host_ref, "xosan", logged.append) == []
    assert start_calls(xapi) == [] and xapi.record("VM", vm)["power_state"] == state
    assert logged == ["XOSAN: storage VM XOSAN storage VM host1 is %s; not touching it" % state.lower()]


def test_a_start_that_fails_is_logged_for_the_quorum_wait_to_explain(xapi, api):
    storage_vm(xapi, "XOSAN storage VM host1", "Halted")
    xapi.db["host"].pop(xapi.host_ref)  # xapi fails the calls about this host: HANDLE_INVALID
    logged = []
    assert boot.start_local_storage_vm_if_halted(api, xapi.host_ref, "xosan", logged.append) == []
    [line] = logged
    assert line.startswith("XOSAN: could not start the local storage VM:") and "HANDLE_INVALID" in line


def refusing_cli(host):
    """The gluster CLI as a host without management TLS's switch finds a storage VM that has it:
    port 24007 takes the TCP connection, glusterd then drops the plain one (the CLI's real words)."""
    def runner(argv, timeout=None, check=False):
        return subprocess.CompletedProcess(argv, 1, "", "Connection failed. Please check if gluster daemon "
                                                        "is operational.\n")
    return GlusterCLI(runner=runner, remote_host=host, sleep=lambda s: None, clock=iter(range(0, 10 ** 6, 50)).__next__)


def test_a_host_without_the_tls_switch_is_told_how_to_get_its_certificate(listener, tmp_path, monkeypatch):
    vsr = VolumeSR(devconfig.DeviceConfig(["127.0.0.1"], "xosan"), str(tmp_path), "sr", port=listener,
                   cli_available=True, cli_factory=refusing_cli)
    switch = tmp_path / "secure-access"
    monkeypatch.setattr(tls, "SECURE_ACCESS", str(switch))
    ok, why, info = boot.quorum_state(vsr)
    assert not ok and info is None
    assert why.startswith("glusterd on 127.0.0.1 cannot be reached (Connection failed.")
    assert "port 24007 answers but glusterd does not" in why and str(switch) in why
    assert "re-run `xosan deploy`" in why
    # a host that has the switch gets no such advice: its problem is elsewhere
    switch.write_text("")
    ok, why, info = boot.quorum_state(vsr)
    assert not ok and "xosan deploy" not in why and why.startswith("glusterd on 127.0.0.1 cannot be reached")
