"""The appliance in a pool: VHD checks, the upload to xapi's /import_raw_vdi, the template.

Against the lab's XAPI simulator (real XenAPI client, real HTTP PUT); no storage
nodes are started here: tests/test_deploy_lab.py deploys from the imported template.
"""

import hashlib
import json
import os
import shutil
import struct
import subprocess

import pytest

from xosan.errors import XosanError
from xosan.pool import appliance, vhd
from xosan.pool.xapi import Xapi, XapiError
from xosan_lab.cluster import Lab
from xosan_lab.pool_sim import LabXapi
from xosan_lab.standin import make_standin
from xosan_lab.xapi_sim import XapiSimServer

GiB = 1024 ** 3
MiB = 1024 ** 2


@pytest.fixture
def image(tmp_path):
    return make_standin(str(tmp_path / "appliance"))


@pytest.fixture
def pool(tmp_path):
    """A simulated 3-host pool (no bridge, no nodes: nothing here starts a VM) and a session."""
    lab = Lab.new(str(tmp_path / "lab"))
    sim = LabXapi(lab, hosts=3, local_sr_size=8 * GiB)
    server = XapiSimServer(sim).start()
    sim.url = server.url
    x = Xapi.connect(server.url, "root", "xosan")
    x.sim = sim
    yield x
    x.logout()
    server.stop()
    sim.close()


def _local_sr(x, host_name):
    sim = x.sim
    [host] = [r for r, h in sim.db["host"].items() if h["name_label"] == host_name]
    [sr] = [sim.db["PBD"][p]["SR"] for p in sim.db["host"][host]["PBDs"]
            if sim.db["SR"][sim.db["PBD"][p]["SR"]]["type"] == "lvm"]
    return host, sr


def _puts(sim):
    return [c for c in sim.calls if c[0] == "PUT /import_raw_vdi"]


def _rewrite_manifest(manifest_path, **vhd_fields):
    with open(manifest_path) as fh:
        m = json.load(fh)
    m["vhd"].update(vhd_fields)
    with open(manifest_path, "w") as fh:
        json.dump(m, fh)


# -- the VHD footer ---------------------------------------------------------------------------------

def test_vhd_footer_of_dynamic_and_fixed_images(tmp_path):
    dyn, fixed = str(tmp_path / "d.vhd"), str(tmp_path / "f.vhd")
    subprocess.run(["qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=dynamic", dyn, "100M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=fixed", fixed, "10M"], check=True)
    d, f = vhd.read_info(dyn), vhd.read_info(fixed)
    assert d.disk_type == "dynamic" and d.virtual_size >= 100 * MiB and d.file_size < MiB
    assert f.disk_type == "fixed" and f.virtual_size >= 10 * MiB and f.file_size == f.virtual_size + 512


def test_vhd_errors_name_the_file_and_the_problem(tmp_path):
    path = str(tmp_path / "d.vhd")
    subprocess.run(["qemu-img", "create", "-q", "-f", "vpc", path, "64M"], check=True)
    raw = str(tmp_path / "raw.img")
    with open(raw, "wb") as fh:
        fh.write(b"\0" * 4096)
    with pytest.raises(vhd.VhdError, match="raw.img is not a VHD"):
        vhd.read_info(raw)
    with open(path, "rb") as fh:
        data = bytearray(fh.read())
    data[-512 + 48] ^= 1  # the size changes, the checksum no longer matches
    bad = str(tmp_path / "bad.vhd")
    with open(bad, "wb") as fh:
        fh.write(bytes(data))
    with pytest.raises(vhd.VhdError, match="checksum"):
        vhd.read_info(bad)
    with open(path, "rb") as fh:
        whole = fh.read()
    cut = str(tmp_path / "cut.vhd")
    with open(cut, "wb") as fh:
        fh.write(whole[:-100])
    with pytest.raises(vhd.VhdError, match="cut.vhd"):
        vhd.read_info(cut)
    with pytest.raises(vhd.VhdError, match="cannot read"):
        vhd.read_info(str(tmp_path / "missing.vhd"))


def test_footer_checksum_is_the_ones_complement_of_the_byte_sum():
    footer = bytearray(512)
    footer[:8] = vhd.COOKIE
    footer[48:56] = struct.pack(">Q", 4 * GiB)
    footer[60:64] = struct.pack(">I", 3)
    footer[64:68] = struct.pack(">I", vhd.footer_checksum(bytes(footer)))
    assert vhd.parse_footer(bytes(footer)) == (4 * GiB, "dynamic")
    assert (sum(footer[:64]) + sum(footer[68:]) + vhd.footer_checksum(bytes(footer))) & 0xFFFFFFFF == 0xFFFFFFFF


# -- the image and its manifest ---------------------------------------------------------------------

def test_load_image_from_the_manifest_the_vhd_or_the_folder(image):
    folder = os.path.dirname(image)
    vhd_path = os.path.join(folder, "xosan-storage-vm-lab.vhd")
    for given in (image, vhd_path, folder):
        img = appliance.load_image(given)
        assert img.path == vhd_path and img.sha256 == hashlib.sha256(open(vhd_path, "rb").read()).hexdigest()
        assert img.virtual_size >= 64 * MiB and "lab" in img.version


def test_load_image_refuses_what_does_not_match(image, tmp_path):
    folder = os.path.dirname(image)
    with pytest.raises(appliance.ApplianceError, match="nowhere/manifest.json does not exist"):
        appliance.load_image(str(tmp_path / "nowhere" / "manifest.json"))
    _rewrite_manifest(image, sha256="0" * 64)
    with pytest.raises(appliance.ApplianceError, match="sha256") as err:
        appliance.load_image(image, key="--image")
    assert str(err.value).startswith("--image: ") and "corrupt" in str(err.value)
    _rewrite_manifest(image, file="other.vhd")
    with pytest.raises(appliance.ApplianceError, match="names the image other.vhd"):
        appliance.load_image(image)
    with pytest.raises(appliance.ApplianceError, match="describes other.vhd"):
        appliance.load_image(os.path.join(folder, "xosan-storage-vm-lab.vhd"))
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(os.path.join(folder, "xosan-storage-vm-lab.vhd"), str(alone))
    with pytest.raises(appliance.ApplianceError, match="no manifest.json next to"):
        appliance.load_image(str(alone / "xosan-storage-vm-lab.vhd"))
    with open(image, "w") as fh:
        fh.write("{not json")
    with pytest.raises(appliance.ApplianceError, match="cannot read"):
        appliance.load_image(image)


# -- into the pool ----------------------------------------------------------------------------------

def test_import_uploads_once_and_makes_a_bios_hvm_template(pool, image):
    sim = pool.sim
    img = appliance.load_image(image)
    master, sr = _local_sr(pool, "lab-host-1")
    lines = []
    template = appliance.import_template(pool, img, sr, "XOSAN storage VM", "xosan", progress=lines.append)
    assert [q for _, q in _puts(sim)][0]["format"] == "vhd" and len(_puts(sim)) == 1
    assert any("100%" in line for line in lines)

    rec = sim.db["VM"][template]
    assert rec["is_a_template"] and rec["HVM_boot_policy"] == "BIOS order"
    assert rec["HVM_boot_params"] == {"order": "c", "firmware": "bios"}
    assert rec["platform"]["device-model"] == "qemu-upstream-compat" and rec["PV_bootloader"] == ""
    assert rec["other_config"][appliance.SHA_KEY] == img.sha256
    assert rec["other_config"][appliance.VERSION_KEY] == img.version
    [vbd] = [sim.db["VBD"][v] for v in rec["VBDs"]]
    assert (vbd["userdevice"], vbd["bootable"], vbd["mode"], vbd["type"]) == ("0", True, "RW", "Disk")
    vdi = sim.db["VDI"][vbd["VDI"]]
    assert vdi["SR"] == sr and int(vdi["virtual_size"]) == img.virtual_size
    # what xapi stored is the file, byte for byte
    assert appliance.sha256_file(sim.content[vdi["uuid"]]) == img.sha256
    # no task is left behind
    assert sim.db["task"] == {}

    assert appliance.find_template(pool, sha256=img.sha256) == template
    assert appliance.find_template(pool) == template
    assert appliance.find_template(pool, sha256="f" * 64) is None


def test_copy_puts_the_system_disk_on_each_hosts_local_sr_and_start_needs_it_there(pool, image):
    sim = pool.sim
    img = appliance.load_image(image)
    host1, sr1 = _local_sr(pool, "lab-host-1")
    host2, sr2 = _local_sr(pool, "lab-host-2")
    template = appliance.import_template(pool, img, sr1, "XOSAN storage VM", "xosan")

    clone = pool.run_async("VM.clone", template, "clone")
    assert sim.db["VM"][clone]["is_a_template"]  # as in xapi: a template's clone is a template
    pool.call(pool.api.VM.set_is_a_template, clone, False)
    with pytest.raises(XapiError) as err:  # its disk is on host 1's local SR
        pool.run_async("VM.start_on", clone, host2, False, False)
    assert err.value.code == "VM_REQUIRES_SR" and err.value.params[1] == sr1

    copy = pool.run_async("VM.copy", template, "copy", sr2)
    [vbd] = sim.db["VM"][copy]["VBDs"]
    vdi = sim.db["VDI"][sim.db["VBD"][vbd]["VDI"]]
    assert vdi["SR"] == sr2 and appliance.sha256_file(sim.content[vdi["uuid"]]) == img.sha256
    tmpl_vdi = sim.db["VBD"][sim.db["VM"][template]["VBDs"][0]]["VDI"]
    assert sim.db["VBD"][vbd]["VDI"] != tmpl_vdi


def test_removing_the_template_removes_its_disk(pool, image):
    sim = pool.sim
    before = (sorted(sim.db["VM"]), sorted(sim.db["VDI"]), sorted(sim.db["VBD"]))
    _, sr = _local_sr(pool, "lab-host-1")
    template = appliance.import_template(pool, appliance.load_image(image), sr, "XOSAN storage VM", "xosan")
    stored = list(sim.content.values())
    appliance.remove_template(pool, template)
    assert (sorted(sim.db["VM"]), sorted(sim.db["VDI"]), sorted(sim.db["VBD"])) == before
    assert not any(os.path.exists(p) for p in stored)


def test_a_file_xapi_cannot_read_fails_the_task_and_leaves_nothing(pool, image, tmp_path):
    """The manifest and the sha match but the content is not a VHD: xapi's task fails after the upload."""
    sim = pool.sim
    img = appliance.load_image(image)
    junk = str(tmp_path / "junk.vhd")
    with open(junk, "wb") as fh:
        fh.write(b"x" * 8192)
    img.path = junk  # what a file changed after load_image checked it looks like to xapi
    before = (sorted(sim.db["VM"]), sorted(sim.db["VDI"]))
    _, sr = _local_sr(pool, "lab-host-1")
    with pytest.raises(XapiError) as err:
        appliance.import_template(pool, img, sr, "XOSAN storage VM", "xosan")
    assert err.value.code == "VDI_IO_ERROR"
    assert (sorted(sim.db["VM"]), sorted(sim.db["VDI"])) == before and sim.db["task"] == {}


def test_refused_upload_is_a_clear_error(pool, image):
    """A session xapi does not know gets 401, and the message says what was refused."""
    img = appliance.load_image(image)
    _, sr = _local_sr(pool, "lab-host-1")
    vdi = pool.call(pool.api.VDI.create, {"SR": sr, "virtual_size": str(img.virtual_size), "type": "user",
                                          "sharable": False, "read_only": False, "other_config": {}})
    stale = Xapi.connect(pool.url, "root", "xosan")
    stale.sim = pool.sim
    del pool.sim.sessions[stale.session.handle]
    with pytest.raises(XosanError, match="HTTP 401"):
        stale.upload("/import_raw_vdi", {"vdi": vdi, "format": "vhd"}, img.path)


def test_lvm_sr_without_vhd_is_refused_before_anything_is_made(pool, image):
    sim = pool.sim
    _, sr = _local_sr(pool, "lab-host-1")
    sim.db["SR"][sr]["sm_config"] = {}
    before = (sorted(sim.db["VM"]), sorted(sim.db["VDI"]))
    with pytest.raises(appliance.ApplianceError, match="cannot take a VHD import") as err:
        appliance.import_template(pool, appliance.load_image(image), sr, "XOSAN storage VM", "xosan")
    assert "vm.image-sr" in str(err.value)
    assert (sorted(sim.db["VM"]), sorted(sim.db["VDI"])) == before and _puts(sim) == []


def test_upload_goes_to_the_host_that_sees_a_local_sr(pool):
    host1, sr1 = _local_sr(pool, "lab-host-1")
    host2, sr2 = _local_sr(pool, "lab-host-2")
    assert appliance.upload_host(pool, sr1) is None  # the master's own
    assert appliance.upload_host(pool, sr2) == pool.sim.db["host"][host2]["address"]


def test_template_record_has_every_field_xapi_requires(image):
    from xosan_lab.pool_sim import VM_REQUIRED
    rec = appliance.template_record("XOSAN storage VM", appliance.load_image(image))
    assert [f for f in VM_REQUIRED if f not in rec] == []
    assert int(rec["memory_static_min"]) <= int(rec["memory_dynamic_min"]) <= int(rec["memory_dynamic_max"]) \
        <= int(rec["memory_static_max"])


BUILT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "appliance",
                     "manifest.json")


@pytest.mark.slow
def test_the_built_image_imports_and_copies(pool):
    """`make appliance-test` (which builds the image first): the real 0.5 GB VHD through the same path."""
    import time
    if not os.path.exists(BUILT):
        pytest.skip("no built image in build/appliance: run `make appliance` as root")
    t0 = time.time()
    img = appliance.load_image(BUILT)
    _, sr1 = _local_sr(pool, "lab-host-1")
    _, sr3 = _local_sr(pool, "lab-host-3")
    template = appliance.import_template(pool, img, sr1, "XOSAN storage VM", "xosan")
    took = time.time() - t0
    sim = pool.sim
    [vbd] = sim.db["VM"][template]["VBDs"]
    stored = sim.content[sim.db["VDI"][sim.db["VBD"][vbd]["VDI"]]["uuid"]]
    assert os.path.getsize(stored) == img.size and appliance.sha256_file(stored) == img.sha256
    copy = pool.run_async("VM.copy", template, "copy", sr3)
    [cvbd] = sim.db["VM"][copy]["VBDs"]
    assert sim.db["VDI"][sim.db["VBD"][cvbd]["VDI"]]["SR"] == sr3
    print("imported %s in %.1f s (sha256 check + upload)" % (img.describe(), took))


def test_deploy_names_the_manifest_key_and_line_of_a_bad_image(pool, tmp_path, image):
    from xosan.pool import manifest
    from xosan.pool.deploy import Deployment
    path = tmp_path / "xosan.yaml"
    path.write_text("network:\n  addresses: 10.0.50.0/24\nvm:\n  image: missing/manifest.json\n")
    d = Deployment(pool, manifest.load(str(path)), state_dir=str(tmp_path / "state"), out=open(os.devnull, "w"))
    with pytest.raises(manifest.ManifestError) as err:
        d.template()
    assert err.value.line == 4 and "`vm.image`" in str(err.value) and "does not exist" in str(err.value)
    flags = manifest.from_flags(addresses="10.0.50.0/24", image=image, image_sr="Nope")
    d = Deployment(pool, flags, state_dir=str(tmp_path / "state"), out=open(os.devnull, "w"))
    with pytest.raises(manifest.ManifestError) as err:
        d.template()
    assert "`--image-sr`" in str(err.value) and "'Nope'" in str(err.value)
    assert pool.sim.db["VDI"] == {} or _puts(pool.sim) == []
    # with the image and an SR that exists, deploy imports once; a second Deployment finds it
    flags = manifest.from_flags(addresses="10.0.50.0/24", image=image)
    first = Deployment(pool, flags, state_dir=str(tmp_path / "state"), out=open(os.devnull, "w")).template()
    again = Deployment(pool, flags, state_dir=str(tmp_path / "state"), out=open(os.devnull, "w")).template()
    assert first == again and len(_puts(pool.sim)) == 1
    # without an image, the imported template is the one used
    bare = manifest.from_flags(addresses="10.0.50.0/24")
    assert Deployment(pool, bare, state_dir=str(tmp_path / "state"), out=open(os.devnull, "w")).template() == first


# -- a master with a self-signed certificate --------------------------------------------------------

@pytest.fixture
def tls_master(tmp_path):
    """The simulator over HTTPS with a fresh self-signed certificate, as an XCP-ng host has;
    yields (url, SHA-256 fingerprint as openssl prints it, sim)."""
    cert, key = str(tmp_path / "xapi.crt"), str(tmp_path / "xapi.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=xcp-master",
                    "-days", "2", "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    printed = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", cert],
                             check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    lab = Lab.new(str(tmp_path / "lab"))
    sim = LabXapi(lab, hosts=2, local_sr_size=8 * GiB)
    server = XapiSimServer(sim, tls=(cert, key)).start()
    sim.url = server.url
    yield server.url, printed, sim
    server.stop()
    sim.close()


def test_self_signed_master_is_refused_with_the_fingerprint_to_check(tls_master):
    from xosan.pool import tls
    url, printed, _ = tls_master
    assert url.startswith("https://")
    with pytest.raises(XosanError) as err:
        Xapi.connect(url, "root", "xosan")
    seen = tls.pretty(tls.normalize_fingerprint(printed))
    assert "not trusted" in str(err.value) and seen in str(err.value) and "tls-fingerprint" in str(err.value)


def test_pinned_master_takes_calls_and_the_upload(tls_master, image):
    from xosan.pool import tls
    url, printed, sim = tls_master
    x = Xapi.connect(url, "root", "xosan", fingerprint=tls.normalize_fingerprint(printed))
    try:
        img = appliance.load_image(image)
        [sr] = [r for r, rec in sim.db["SR"].items() if rec["type"] == "lvm"
                and any(sim.db["PBD"][p]["host"] == sim.hosts[0] for p in rec["PBDs"])]
        template = appliance.import_template(x, img, sr, "XOSAN storage VM", "xosan")
        [vbd] = sim.db["VM"][template]["VBDs"]
        stored = sim.content[sim.db["VDI"][sim.db["VBD"][vbd]["VDI"]]["uuid"]]
        assert appliance.sha256_file(stored) == img.sha256
    finally:
        x.logout()


def test_wrong_pin_is_refused(tls_master):
    from xosan.pool import tls
    url, _, _ = tls_master
    with pytest.raises(tls.CertificateMismatch) as err:
        Xapi.connect(url, "root", "xosan", fingerprint="ab" * 32)
    assert "not the pinned AB:AB" in str(err.value) and "xapi-ssl.pem" in str(err.value)
