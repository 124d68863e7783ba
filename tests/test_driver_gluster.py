"""The driver end to end on a real GlusterFS volume (3 lab nodes, replica 3 arbiter 1),
every call through the XML-RPC path xapi uses, on the real SM framework in a lab dom0.
vdi_attach goes through the framework's blktap2 layer to tapdisk, which cannot run here
(tests/test_sm_contract.py says why): the VHD is used through the SR mount instead."""

import hashlib
import os
import xml.dom.minidom
import xmlrpc.client

import pytest
import vhdblocks
from smdriver import SMFault, unwrap

pytestmark = pytest.mark.gluster

GiB = 1024 ** 3


def dconf_for(lab, volume="xosan"):
    return {"server": ",".join(n.ip for n in lab.nodes), "volume": volume, "SRmaster": "true"}


def fuse_mounts(dom0):
    return "\n".join(dom0.fuse_mounts())


def vdi_create_args(size, label="disk"):
    # size, name_label, name_description, metadata_of_pool, is_a_snapshot, snapshot_time, snapshot_of, read_only
    return [str(size), label, "test disk", "OpaqueRef:NULL", "false", "19700101T00:00:00Z", "OpaqueRef:NULL",
            "false"]


def probe_uuids(answer):
    doc = xml.dom.minidom.parseString(answer)
    return sorted(n.firstChild.data.strip() for n in doc.getElementsByTagName("UUID"))


def test_sr_lifecycle_on_real_gluster(gluster_lab, driver, xapi, new_sr, dom0):
    dconf = dconf_for(gluster_lab)
    sr_uuid, sr_ref = new_sr(dconf)
    sr_path = dom0.path("/var/run/sr-mount/" + sr_uuid)
    common = dict(sr_uuid=sr_uuid, sr_ref=sr_ref)

    driver.call("sr_create", dconf, args=["0"], **common)
    assert dom0.fuse_mounts() == []  # create leaves it detached

    # attach twice: idempotent
    driver.call("sr_attach", dconf, **common)
    driver.call("sr_attach", dconf, **common)
    sr_path = dom0.path("/var/run/sr-mount/" + sr_uuid)
    assert os.path.isdir(sr_path) and "/xosan/" in sr_path  # the SR path links into the mount
    assert len(dom0.fuse_mounts()) == 1
    sr = xapi.record("SR", sr_ref)
    # the cluster's own server list is remembered for the next attach
    assert sr["sm_config"]["xosan-servers"].split(",") == [n.ip for n in gluster_lab.nodes]
    assert int(sr["physical_size"]) > 0

    # a VDI: a real VHD file named after its uuid
    params = driver.call("vdi_create", dconf, args=vdi_create_args(GiB), vdi_type="user",
                         vdi_sm_config={}, **common)
    vdi_uuid = params["uuid"]
    vhd = os.path.join(sr_path, vdi_uuid + ".vhd")
    with open(vhd, "rb") as fh:
        fh.seek(-512, os.SEEK_END)
        assert fh.read(8) == b"conectix"  # VHD footer cookie
    [(vdi_ref, rec)] = xapi.find("VDI", uuid=vdi_uuid)
    assert rec["SR"] == sr_ref and int(rec["virtual_size"]) == GiB and rec["location"] == vdi_uuid

    # a guest's write lands in a VHD block (as tapdisk would put it), read back through the mount
    pattern = os.urandom(vhdblocks.block_size(vhd))
    vhdblocks.write_block(vhd, 3, pattern)
    assert hashlib.sha256(vhdblocks.read_block(vhd, 3)).digest() == hashlib.sha256(pattern).digest()

    snap = driver.call("vdi_snapshot", dconf, vdi_uuid=vdi_uuid, vdi_ref=vdi_ref, driver_params={}, **common)
    assert snap["uuid"] != vdi_uuid and os.path.exists(os.path.join(sr_path, snap["uuid"] + ".vhd"))

    # scan finds both and forgets a VDI record whose file is gone
    ghost = xapi.add("VDI", {"uuid": "ghost", "SR": sr_ref, "location": "0000ghost", "managed": True,
                             "sm_config": {}})
    driver.call("sr_scan", dconf, **common)
    # (a FileSR snapshot also makes a hidden base copy: a VDI record xapi keeps unmanaged)
    locations = sorted(r["location"] for _, r in xapi.find("VDI", SR=sr_ref) if r.get("managed"))
    assert locations == sorted([vdi_uuid, snap["uuid"]])
    assert ghost not in xapi.db["VDI"]
    driver.call("sr_update", dconf, **common)

    # HA: a config that attaches the VDI with the SR not attached
    # the answer is an XML-RPC call that xapi later runs as it is, even with itself down
    cfg = driver.call("vdi_generate_config", dconf, vdi_uuid=vdi_uuid, vdi_ref=vdi_ref, **common)
    driver.call("sr_detach", dconf, **common)
    driver.call("sr_detach", dconf, **common)  # idempotent
    assert not os.path.lexists(dom0.path("/var/run/sr-mount/" + sr_uuid)) and dom0.fuse_mounts() == []
    # run as xapi runs it: the SR half (mount, quorum) is ours and runs; then the framework's
    # blktap2 layer asks tapdisk for a device, which cannot exist here
    with pytest.raises(xmlrpc.client.Fault) as fault:
        unwrap(driver.run_raw(cfg).stdout)
    assert "tap" in fault.value.faultString
    assert os.path.exists(dom0.path("/var/run/sr-mount/%s/%s.vhd" % (sr_uuid, vdi_uuid)))
    driver.call("sr_detach", dconf, **common)

    # probe: the SR shows up on the volume; without a volume it lists volumes
    answer = driver.call("sr_probe", {"server": dconf["server"], "volume": "xosan"})
    assert sr_uuid in probe_uuids(answer)
    with pytest.raises(SMFault) as err:
        driver.call("sr_probe", {"server": dconf["server"]})
    assert err.value.code == 101 and "xosan" in err.value.message.split("volumes on")[1]
    assert dom0.fuse_mounts() == []

    # create again on the same uuid: refused, the content is kept
    with pytest.raises(SMFault) as err:
        driver.call("sr_create", dconf, args=["0"], **common)
    assert err.value.code == 42

    # delete refuses while VDIs remain, then works once they are gone
    with pytest.raises(SMFault) as err:
        driver.call("sr_delete", dconf, **common)
    assert err.value.code == 39
    for uuid in (vdi_uuid, snap["uuid"]):
        [(ref, _)] = xapi.find("VDI", uuid=uuid)
        driver.call("vdi_delete", dconf, vdi_uuid=uuid, vdi_ref=ref, **common)
    driver.call("sr_detach", dconf, **common)
    driver.call("sr_delete", dconf, **common)
    assert sr_uuid not in probe_uuids(driver.call("sr_probe", {"server": dconf["server"], "volume": "xosan"}))
    assert dom0.fuse_mounts() == []


def test_attach_uses_backup_servers_when_first_is_down(gluster_lab, driver, new_sr, dom0):
    dconf = dconf_for(gluster_lab)
    sr_uuid, sr_ref = new_sr(dconf)
    driver.call("sr_create", dconf, args=["0"], sr_uuid=sr_uuid, sr_ref=sr_ref)
    # the first server in device-config is an address where no glusterd listens
    dconf_dead_first = dict(dconf, server="127.0.0.50," + dconf["server"])
    driver.call("sr_attach", dconf_dead_first, sr_uuid=sr_uuid, sr_ref=sr_ref)
    assert os.path.isdir(dom0.path("/var/run/sr-mount/" + sr_uuid))
    driver.call("sr_detach", dconf, sr_uuid=sr_uuid, sr_ref=sr_ref)
    driver.call("sr_delete", dconf, sr_uuid=sr_uuid, sr_ref=sr_ref)


def test_missing_volume_is_a_clear_error_and_leaves_nothing(gluster_lab, driver, new_sr, dom0):
    dconf = dconf_for(gluster_lab, volume="nosuchvol")
    sr_uuid, sr_ref = new_sr(dconf)
    for command in ("sr_create", "sr_attach"):
        with pytest.raises(SMFault) as err:
            driver.call(command, dconf, args=["0"], sr_uuid=sr_uuid, sr_ref=sr_ref)
        assert err.value.code == 103
        assert "'nosuchvol' does not exist" in err.value.message
    base = dom0.path("/var/run/sr-mount")
    assert dom0.fuse_mounts() == []
    assert not os.path.lexists(os.path.join(base, sr_uuid))
    assert not os.path.lexists(os.path.join(base, "xosan", sr_uuid))


def test_attach_of_unknown_sr_directory_fails_and_unmounts(gluster_lab, driver, new_sr, dom0):
    dconf = dconf_for(gluster_lab)
    sr_uuid, sr_ref = new_sr(dconf)  # never created on the volume
    with pytest.raises(SMFault) as err:
        driver.call("sr_attach", dconf, sr_uuid=sr_uuid, sr_ref=sr_ref)
    assert err.value.code == 47 and "sr-probe" in err.value.message
    assert dom0.fuse_mounts() == []


def test_busy_detach_is_sr_in_use_and_keeps_the_mount(gluster_lab, driver, new_sr, dom0):
    dconf = dconf_for(gluster_lab)
    sr_uuid, sr_ref = new_sr(dconf)
    common = dict(sr_uuid=sr_uuid, sr_ref=sr_ref)
    driver.call("sr_create", dconf, args=["0"], **common)
    driver.call("sr_attach", dconf, **common)
    # a file held open on the mount, as a VDI tapdisk still serves or a shell in the directory
    held = open(dom0.path("/var/run/sr-mount/%s/held" % sr_uuid), "w")
    try:
        with pytest.raises(SMFault) as err:
            driver.call("sr_detach", dconf, **common)
        assert err.value.code == 16  # SRInUse
        assert "cannot unmount" in err.value.message and "detach it first" in err.value.message
        assert len(dom0.fuse_mounts()) == 1 and os.path.isdir(dom0.path("/var/run/sr-mount/" + sr_uuid))
        assert "XOSAN: UnmountError: cannot unmount" in dom0.smlog_text()
    finally:
        held.close()
    os.unlink(dom0.path("/var/run/sr-mount/%s/held" % sr_uuid))
    driver.call("sr_detach", dconf, **common)
    assert dom0.fuse_mounts() == [] and not os.path.lexists(dom0.path("/var/run/sr-mount/" + sr_uuid))
    driver.call("sr_delete", dconf, **common)


def test_attach_with_every_device_config_server_dead_uses_the_remembered_ones(gluster_lab, driver, xapi,
                                                                            new_sr, dom0):
    """device-config cannot change after sr-create; hosts come and go. The servers the cluster
    gave at the last attach (sm-config:xosan-servers) are enough when none of device-config answers."""
    dconf = dconf_for(gluster_lab)
    sr_uuid, sr_ref = new_sr(dconf)
    driver.call("sr_create", dconf, args=["0"], sr_uuid=sr_uuid, sr_ref=sr_ref)
    lab_ips = [n.ip for n in gluster_lab.nodes]
    xapi.record("SR", sr_ref)["sm_config"]["xosan-servers"] = ",".join(lab_ips)
    # nothing listens on glusterd's port there (10.250.199.x is no good: on some machines a
    # proxy accepts any TCP connection to an address outside the local networks)
    dead = ["127.0.0.51", "127.0.0.52"]
    stale = dict(dconf, server=",".join(dead))
    driver.call("sr_attach", stale, sr_uuid=sr_uuid, sr_ref=sr_ref)
    try:
        assert len(dom0.fuse_mounts()) == 1 and os.path.isdir(dom0.path("/var/run/sr-mount/" + sr_uuid))
        log = dom0.smlog_text()
        assert "XOSAN: mounting volume xosan from %s (no answer from %s)" % (
            ", ".join(lab_ips), ", ".join(dead)) in log
        mount_line = [ln for ln in log.splitlines() if "'mount', '-t', 'glusterfs'" in ln][-1]
        assert "'%s:/xosan'" % lab_ips[0] in mount_line  # from an answering server
        # the cluster's list first, then what device-config says (it may come back)
        assert xapi.record("SR", sr_ref)["sm_config"]["xosan-servers"].split(",") == lab_ips + dead
    finally:
        driver.call("sr_detach", stale, sr_uuid=sr_uuid, sr_ref=sr_ref)
    # without the remembered list, the same device-config has nothing to mount from
    xapi.record("SR", sr_ref)["sm_config"].pop("xosan-servers")
    with pytest.raises(SMFault) as err:
        driver.call("sr_attach", dict(stale, **{"attach-timeout": "1"}), sr_uuid=sr_uuid, sr_ref=sr_ref)
    assert err.value.code == 47 and "no storage node answers" in err.value.message
    assert dom0.fuse_mounts() == []
    driver.call("sr_delete", dconf, sr_uuid=sr_uuid, sr_ref=sr_ref)


def test_attach_starts_a_halted_storage_vm_and_leaves_a_paused_one(gluster_lab, driver, xapi, new_sr, dom0):
    """The boot order through the session the framework hands the driver: this host's storage
    VM (xosan-deployment = the volume, xosan-host = this host) is started when halted; a paused
    or suspended one is the admin's and is left alone; either way the attach waits for quorum."""
    from xosan import facts
    dconf = dconf_for(gluster_lab)
    sr_uuid, sr_ref = new_sr(dconf)
    common = dict(sr_uuid=sr_uuid, sr_ref=sr_ref)
    driver.call("sr_create", dconf, args=["0"], **common)
    host_uuid = xapi.record("host", xapi.host_ref)["uuid"]
    vm = xapi.add("VM", {"name_label": "XOSAN storage VM host1", "power_state": "Paused", "is_a_template": False,
                         "affinity": xapi.host_ref,
                         "other_config": {facts.TAG_DEPLOYMENT: "xosan", facts.TAG_HOST: host_uuid}})
    for state in ("Paused", "Suspended"):
        xapi.record("VM", vm)["power_state"] = state
        driver.call("sr_attach", dconf, **common)
        assert xapi.record("VM", vm)["power_state"] == state
        assert "XOSAN: storage VM XOSAN storage VM host1 is %s; not touching it" % state.lower() in dom0.smlog_text()
        driver.call("sr_detach", dconf, **common)
    assert [m for m, _ in xapi.calls if m == "VM.start_on"] == []

    xapi.record("VM", vm)["power_state"] = "Halted"
    driver.call("sr_attach", dconf, **common)
    assert [list(p[1:3]) for m, p in xapi.calls if m == "VM.start_on"] == [[vm, xapi.host_ref]]
    assert xapi.record("VM", vm)["power_state"] == "Running"
    assert "XOSAN: starting storage VM XOSAN storage VM host1 on this host before attaching" in dom0.smlog_text()
    driver.call("sr_detach", dconf, **common)
    driver.call("sr_delete", dconf, **common)
