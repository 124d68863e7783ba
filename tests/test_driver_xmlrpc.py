"""The driver as xapi sees it, without a GlusterFS volume: driver info and bad input, on the
real SM framework in a lab dom0."""

import os
import time

import pytest
from smdriver import DRIVER, SMFault

from xosan_lab.smrunner import sm_record


def test_driver_info_lists_capabilities_and_configuration(driver):
    info = driver.call("sr_get_driver_info", {})
    assert info["name"] == "XOSAN"
    assert info["required_api_version"] == "1.0"
    caps = set(info["capabilities"])
    for cap in ("SR_PROBE", "SR_UPDATE", "VDI_CREATE", "VDI_DELETE", "VDI_ATTACH", "VDI_DETACH",
                "VDI_CLONE", "VDI_SNAPSHOT", "VDI_RESIZE", "VDI_GENERATE_CONFIG", "ATOMIC_PAUSE"):
        assert cap in caps
    # FileSR's file-SR set (CBT with cbt-util logs, activate/deactivate, thin VHDs), and the
    # SM record the lab's xapi keeps holds exactly what the driver answers
    for cap in ("VDI_CONFIG_CBT", "VDI_ACTIVATE", "VDI_DEACTIVATE", "THIN_PROVISIONING"):
        assert cap in caps
    assert info["capabilities"] == sm_record()["capabilities"]
    keys = dict((c["key"], c["description"]) for c in info["configuration"])
    assert set(keys) == {"server", "volume", "attach-timeout"}
    assert "e.g." in keys["server"] and "required" in keys["server"]


def test_driver_is_executable_and_registers_when_imported(dom0):
    assert os.access(DRIVER, os.X_OK)
    code = ("import sys; sys.argv=['x']; sys.path.insert(0, '/opt/xensource/sm'); import SR, importlib.util as u; "
            "s=u.spec_from_file_location('XOSANSR', '/opt/xensource/sm/XOSANSR.py'); m=u.module_from_spec(s); "
            "s.loader.exec_module(m); print(SR.driver('xosan').__name__)")
    out = dom0.run(["/usr/bin/python3", "-c", code])
    assert out.stdout.strip() == "XOSANSR"


def test_garbage_request_is_a_bad_request_fault(driver):
    res = driver.run_raw("<not-xml")
    assert "<fault>" in res.stdout and "<int>143</int>" in res.stdout


@pytest.mark.parametrize("dconf,code,words", [
    ({}, 102, ["device-config:server is missing", "device-config:server=10.0.50.11"]),
    ({"server": "10.0.50.11"}, 101, ["device-config:volume is missing", "volume=xosan"]),
    ({"server": "10.0.50.11:/xosan", "volume": "xosan"}, 1, ["contains a path", "server=10.0.50.11"]),
    ({"server": "10.0.50.11,,10.0.50.12", "volume": "xosan"}, 1, ["empty entry"]),
    ({"server": "300.1.1.1", "volume": "xosan"}, 1, ["not an IP address or host name"]),
    ({"server": "10.0.50.11", "volume": "x/y"}, 103, ["not a GlusterFS volume name", "volume=xosan"]),
    ({"server": "10.0.50.11", "volume": "xosan", "attach-timeout": "soon"}, 1,
     ["attach-timeout", "between 1 and 3600"]),
])
def test_bad_device_config_names_key_and_fix(driver, new_sr, dconf, code, words):
    sr_uuid, sr_ref = new_sr(dconf)
    for command in ("sr_create", "sr_attach"):
        with pytest.raises(SMFault) as err:
            driver.call(command, dconf, sr_uuid=sr_uuid, sr_ref=sr_ref, args=["0"])
        assert err.value.code == code
        for w in words:
            assert w in err.value.message


def test_unreachable_server_fails_fast_and_leaves_nothing(driver, new_sr, dom0):
    # nothing listens on glusterd's port there (an address outside the local networks may be
    # answered by a proxy that accepts any TCP connection)
    dconf = {"server": "127.0.0.77", "volume": "xosan"}
    sr_uuid, sr_ref = new_sr(dconf)
    start = time.time()
    with pytest.raises(SMFault) as err:
        driver.call("sr_create", dconf, sr_uuid=sr_uuid, sr_ref=sr_ref, args=["0"])
    assert time.time() - start < 60
    assert err.value.code == 47
    assert "127.0.0.77" in err.value.message and "port 24007" in err.value.message
    base = dom0.path("/var/run/sr-mount")
    assert not os.path.lexists(os.path.join(base, sr_uuid))
    assert not os.path.lexists(os.path.join(base, "xosan", sr_uuid))
    assert [f for _, _, fs in os.walk(base) for f in fs] == []
    assert dom0.fuse_mounts() == []
