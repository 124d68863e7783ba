"""`xosan witness prepare` without a lab: the config disk it writes is what the appliance's first
boot reads (the real xosan-firstboot run on the image's files), the host key on it is the one
pinned, and deploy's re-pinning keeps the witness."""

import json
import os
import subprocess
import sys

import pytest
from test_appliance import KEYS_FILE, SSHD_DROPIN, FakeVM, run

from xosan.cli import main as cli_main
from xosan.errors import InvalidValue
from xosan.gluster import ssh
from xosan.pool import witness
from xosan.pool.access import WITNESS_KEY

ADDRESS = "10.0.50.9"


def _prepare(tmp_path, **kw):
    return witness.prepare(str(tmp_path / "state"), str(tmp_path / "out"), kw.pop("address", ADDRESS), **kw)


def _pub(access):
    with open(access.host_key_path(WITNESS_KEY) + ".pub") as fh:
        return fh.read().strip()


def test_the_config_disk_holds_what_first_boot_reads(tmp_path):
    r = _prepare(tmp_path, gateway="10.0.50.1", ssh_from="10.0.60.0/24, 10.0.50.5", mtu=9000)
    cfg = witness.read_config_image(r["config_image"])
    access = witness.state_access(str(tmp_path / "state"), "xosan")
    with open(access.key_path + ".pub") as fh:
        deployment_key = fh.read().strip()
    assert cfg["ip"] == ADDRESS and cfg["prefix"] == "24" and cfg["gateway"] == "10.0.50.1"
    assert cfg["mtu"] == "9000" and cfg["ssh-from"] == "10.0.60.0/24,10.0.50.5"
    assert cfg["authorized-key"] == deployment_key and cfg["deployment"] == "xosan"
    assert cfg["hostname"] == witness.DEFAULT_HOSTNAME
    assert oct(os.stat(r["config_image"]).st_mode & 0o777) == "0o600"  # it carries a private key
    # the real first boot, given the files of that disk, installs that host key and that login policy
    vm = FakeVM(tmp_path / "vm")
    run(["mcopy", "-i", r["config_image"], "::*", vm.fake + "/cfgdisk/"])
    vm.cfgdev = "/dev/vdc"
    res = vm.firstboot()
    assert res.returncode == 0, res.stderr
    assert "configuration from config disk /dev/vdc (deployment xosan)" in res.stderr
    hk = os.path.join(vm.root, "etc/ssh/ssh_host_ed25519_key")
    assert run(["ssh-keygen", "-y", "-f", hk]).stdout.split()[:2] == _pub(access).split()[:2]
    assert vm.read(KEYS_FILE) == deployment_key + "\n"
    assert "AllowUsers root@10.0.60.0/24 root@10.0.50.5/32\n" in vm.read(SSHD_DROPIN)
    assert "Address=10.0.50.9/24" in vm.read("etc/systemd/network/10-xosan.network")


def test_the_witness_is_pinned_before_first_contact_and_deploy_keeps_the_pin(tmp_path):
    state = str(tmp_path / "state")
    access = witness.state_access(state, "xosan")
    os.makedirs(access.key_dir)
    with open(access.known_hosts, "w") as fh:  # a storage VM pinned earlier, and a stale witness line
        fh.write("10.0.50.11 ssh-ed25519 AAAAVM\n%s ssh-ed25519 AAAAOLD\n" % ADDRESS)
    r = _prepare(tmp_path)
    line = ssh.known_hosts_line(ADDRESS, _pub(access))
    assert r["pinned"] == line
    with open(access.known_hosts) as fh:
        assert fh.read().splitlines() == ["10.0.50.11 ssh-ed25519 AAAAVM", line]
    fp = run(["ssh-keygen", "-l", "-E", "sha256", "-f", access.host_key_path(WITNESS_KEY) + ".pub"]).stdout
    assert r["host_key_fingerprint"] == fp.split()[1] and r["host_key_fingerprint"].startswith("SHA256:")
    # what deploy does after making its VMs: known_hosts rewritten from its own list, the witness kept
    keys = access.ensure_keys([type("H", (), {"uuid": "uuid-1", "name": "h1"})()])
    assert set(keys["hosts"]) == {"uuid-1"}
    access.pin([("10.0.50.11", "uuid-1")])
    with open(access.known_hosts) as fh:
        pins = fh.read().splitlines()
    assert pins[-1] == line and len(pins) == 2 and pins[0].startswith("10.0.50.11 ssh-ed25519 ")


def test_a_second_prepare_keeps_the_keys(tmp_path):
    first = _prepare(tmp_path)
    again = _prepare(tmp_path, address="10.0.50.8")
    assert first["host_key_fingerprint"] == again["host_key_fingerprint"]
    a = witness.read_config_image(first["config_image"])
    b = witness.read_config_image(again["config_image"])
    assert b["ip"] == "10.0.50.8" and (a["host-key"], a["authorized-key"]) == (b["host-key"], b["authorized-key"])
    access = witness.state_access(str(tmp_path / "state"), "xosan")
    with open(access.known_hosts) as fh:  # the witness moved: only its new address is pinned
        assert [x.split()[0] for x in fh.read().splitlines()] == ["10.0.50.8"]


@pytest.mark.parametrize("kw,key", [
    (dict(address="10.0.50"), "address"),
    (dict(prefix="33"), "prefix"),
    (dict(netmask="255.0.255.0"), "netmask"),
    (dict(prefix="16", netmask="255.255.255.0"), "prefix"),
    (dict(gateway="10.0.51.1"), "gateway"),
    (dict(gateway=ADDRESS), "gateway"),
    (dict(ssh_from="10.0.60.0/33"), "ssh-from"),
    (dict(mtu=100), "mtu"),
])
def test_bad_values_are_refused_before_anything_is_written(tmp_path, kw, key):
    with pytest.raises(InvalidValue) as err:
        _prepare(tmp_path, **kw)
    assert err.value.key == key
    assert not os.path.exists(str(tmp_path / "out"))


def test_netmask_is_a_prefix(tmp_path):
    r = _prepare(tmp_path, netmask="255.255.0.0")
    assert r["prefix"] == 16 and witness.read_config_image(r["config_image"])["prefix"] == "16"
    assert r["ssh_from"] == "10.0.0.0/16"


def test_the_command_prints_one_screen_and_json(tmp_path, capsys):
    argv = ["witness", "prepare", "--address", ADDRESS, "--state-dir", str(tmp_path / "state"), "--out",
            str(tmp_path / "out"), "--image", "/srv/xosan-storage-vm-0.1.0.vhd", "--bridge", "xenbr1"]
    assert cli_main.main(argv) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert len(lines) <= 24
    assert "witness: %s" % ADDRESS in text and "SHA256:" in text
    assert "-netdev bridge,id=n0,br=xenbr1" in text and "virt-install" in text
    assert "-b /srv/xosan-storage-vm-0.1.0.vhd" in text
    assert cli_main.main(argv + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["address"] == ADDRESS and out["config_image"].endswith(witness.CONFIG_IMAGE)
    assert "readonly=on" in out["boot"]["qemu"]


def test_the_command_says_what_is_wrong(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    res = subprocess.run([sys.executable, "-m", "xosan", "witness", "prepare", "--address", "10.0.50.9",
                          "--prefix", "40", "--state-dir", str(tmp_path / "s"), "--out", str(tmp_path / "o")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env)
    assert res.returncode == 1 and "--prefix '40' is not 1-32" in res.stderr
