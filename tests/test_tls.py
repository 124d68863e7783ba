"""GlusterFS TLS on the I/O path: the deployment CA (real openssl), the volume options, and on the
real lab a TLS volume that admits the deployment's client and nobody else."""

import os
import shutil
import subprocess
import uuid

import pytest
from labutil import lab_name, lab_subnet

from xosan.gluster import tls
from xosan.pool import certs
from xosan.pool.certs import CertError, DeploymentCA


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)


# -- the deployment CA --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    c = DeploymentCA(str(tmp_path_factory.mktemp("state") / "tls"), "xosan")
    c.ensure_identity(c.name_for("node", "host1"))
    return c


def test_ca_is_a_ca_and_its_key_is_private(ca):
    text = openssl("x509", "-noout", "-text", "-in", ca.ca_cert).stdout
    assert "CA:TRUE" in text and "Certificate Sign" in text
    assert "CN = xosan-xosan-ca" in text or "CN=xosan-xosan-ca" in text
    assert os.stat(ca.ca_key).st_mode & 0o077 == 0
    assert os.stat(ca.dir).st_mode & 0o077 == 0


def test_the_ca_key_is_rsa_3072_and_each_leaf_key_ecdsa_p256(ca):
    # P-256 leaves: a TLS handshake's signatures are ~100x cheaper than RSA-3072's (certs.LEAF_KEY)
    ca_text = openssl("x509", "-noout", "-text", "-in", ca.ca_cert).stdout
    assert "rsaEncryption" in ca_text and "(3072 bit)" in ca_text
    leaf = ca.identity(ca.name_for("node", "host1"))
    text = openssl("x509", "-noout", "-text", "-in", leaf.cert).stdout
    assert "id-ecPublicKey" in text and "prime256v1" in text and "(256 bit)" in text
    assert "Digital Signature" in text and "Key Encipherment" not in text
    key = openssl("pkey", "-noout", "-text", "-in", leaf.key).stdout
    assert "prime256v1" in key


def test_leaf_chains_to_the_ca_for_both_ends_of_a_connection(ca):
    name = ca.name_for("node", "host1")
    ident = ca.identity(name)
    ca.verify(name)
    text = openssl("x509", "-noout", "-text", "-in", ident.cert).stdout
    assert "CA:FALSE" in text
    assert "TLS Web Server Authentication" in text and "TLS Web Client Authentication" in text
    assert openssl("x509", "-noout", "-subject", "-in", ident.cert).stdout.strip().endswith(name)
    assert os.stat(ident.key).st_mode & 0o077 == 0
    # the key belongs to the certificate
    pub_cert = openssl("x509", "-noout", "-pubkey", "-in", ident.cert).stdout
    pub_key = openssl("pkey", "-pubout", "-in", ident.key).stdout
    assert pub_cert and pub_cert == pub_key


def test_re_runs_keep_the_ca_and_every_certificate(ca):
    before = [open(p).read() for p in (ca.ca_cert, ca.identity(ca.name_for("node", "host1")).cert)]
    ca.ensure_ca()
    ca.ensure_identity(ca.name_for("node", "host1"))
    after = [open(p).read() for p in (ca.ca_cert, ca.identity(ca.name_for("node", "host1")).cert)]
    assert before == after


def test_names_are_what_the_ca_signed(ca):
    ca.ensure_identity(ca.name_for("dom0", "host 2"))
    assert ca.names() == ["xosan-xosan-dom0-host-2", "xosan-xosan-node-host1"]
    assert ca.not_after("xosan-xosan-node-host1").endswith("GMT")


def test_a_certificate_of_another_ca_does_not_verify(ca, tmp_path):
    other = DeploymentCA(str(tmp_path / "other"), "xosan")
    forged = other.ensure_identity(ca.name_for("node", "host1"))  # same CN, another CA
    other.verify_file(forged.cert)
    with pytest.raises(CertError) as err:
        ca.verify_file(forged.cert)
    assert "does not verify" in str(err.value)


@pytest.mark.parametrize("bad", ["", "a,b", "a b", "*", "x" * 65, "-lead", "a/b", None])
def test_bad_names_are_refused_before_openssl_runs(bad, tmp_path):
    c = DeploymentCA(str(tmp_path / "tls"), "xosan")
    with pytest.raises(CertError) as err:
        c.ensure_identity(bad)
    assert "cannot be a certificate name" in str(err.value)
    assert not os.path.exists(c.dir)  # nothing made


def test_install_writes_the_three_files_glusterfs_reads(ca, tmp_path):
    paths = certs.install(ca.identity("xosan-xosan-node-host1"), str(tmp_path / "dest"))
    assert sorted(os.path.basename(p) for p in paths.values()) == ["glusterfs.ca", "glusterfs.key", "glusterfs.pem"]
    assert os.stat(paths["glusterfs.key"]).st_mode & 0o777 == 0o600
    assert open(paths["glusterfs.ca"]).read() == open(ca.ca_cert).read()
    assert tls.installed(str(tmp_path / "dest"))
    assert not tls.installed(str(tmp_path))


# -- the volume options -------------------------------------------------------------------------

def test_io_options_name_the_folder_and_only_the_given_names():
    opts = dict(tls.io_options("/var/lib/glusterd/xosan-tls/xosan", ["b", "a", "b"]))
    assert opts["ssl.own-cert"] == "/var/lib/glusterd/xosan-tls/xosan/glusterfs.pem"
    assert opts["ssl.private-key"] == "/var/lib/glusterd/xosan-tls/xosan/glusterfs.key"
    assert opts["ssl.ca-list"] == "/var/lib/glusterd/xosan-tls/xosan/glusterfs.ca"
    assert opts["auth.ssl-allow"] == "a,b"
    assert opts["client.ssl"] == opts["server.ssl"] == "on"
    # the switches come last: paths and allow list are in place when TLS turns on
    assert [k for k, _ in tls.io_options("/x", ["a"])][-2:] == ["client.ssl", "server.ssl"]
    assert tls.cert_dir("xosan") == "/var/lib/glusterd/xosan-tls/xosan"


@pytest.mark.parametrize("names", [[], ["a,b"], ["a b"], ["*"], ["x?"]])
def test_allow_lists_that_would_let_others_in_are_refused(names):
    with pytest.raises(tls.TLSConfigError):
        tls.io_options("/x", names)


@pytest.mark.parametrize("bad", ["relative/dir", ""])
def test_relative_folders_are_refused(bad):
    with pytest.raises(tls.TLSConfigError) as err:
        tls.io_options(bad, ["a"])
    assert "absolute" in str(err.value)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden"])
def test_bad_deployment_ids_are_refused(bad):
    with pytest.raises(tls.TLSConfigError):
        tls.cert_dir(bad)


# -- a machine's files, expiry, status line (issue 15 item 2) ----------------------------------

def _pem(path):
    with open(path) as fh:
        return fh.read()


def _args(ca, name, deployment="xosan"):
    ident = ca.identity(name)
    return {"deployment": deployment, "cert": _pem(ident.cert), "key": _pem(ident.key), "ca": _pem(ca.ca_cert)}


def test_check_pem_takes_the_right_kind_and_refuses_the_rest(ca):
    ident = ca.identity("xosan-xosan-node-host1")
    assert tls.check_pem(tls.OWN_CERT, _pem(ident.cert)).startswith("-----BEGIN CERTIFICATE-----")
    assert tls.check_pem(tls.PRIVATE_KEY, _pem(ident.key)).endswith("-----\n")
    for fname, text in ((tls.OWN_CERT, _pem(ident.key)), (tls.PRIVATE_KEY, _pem(ident.cert)),
                        (tls.CA_LIST, ""), (tls.OWN_CERT, _pem(ident.cert)[:200]), ("other.pem", _pem(ident.cert))):
        with pytest.raises(tls.TLSConfigError):
            tls.check_pem(fname, text)


def test_write_files_checks_everything_before_writing_anything(ca, tmp_path):
    ident = ca.identity("xosan-xosan-node-host1")
    with pytest.raises(tls.TLSConfigError):
        tls.write_files(str(tmp_path / "d"), {tls.OWN_CERT: _pem(ident.cert), tls.PRIVATE_KEY: "junk"})
    assert not os.path.exists(str(tmp_path / "d"))
    paths = tls.write_files(str(tmp_path / "d"), {tls.OWN_CERT: _pem(ident.cert), tls.PRIVATE_KEY: _pem(ident.key)})
    assert os.stat(paths[tls.PRIVATE_KEY]).st_mode & 0o777 == 0o600
    assert os.stat(paths[tls.OWN_CERT]).st_mode & 0o777 == 0o644
    assert os.stat(str(tmp_path / "d")).st_mode & 0o077 == 0


def test_not_after_is_what_openssl_says(ca):
    import datetime
    assert tls.parse_not_after("notAfter=Dec  2 05:00:00 2028 GMT") == datetime.datetime(2028, 12, 2, 5, 0, 0)
    assert tls.parse_not_after("Jan 15 23:59:59 2031 GMT") == datetime.datetime(2031, 1, 15, 23, 59, 59)
    with pytest.raises(tls.TLSConfigError):
        tls.parse_not_after("soon")
    got = tls.not_after(ca.identity("xosan-xosan-node-host1").cert)
    assert got == tls.parse_not_after(ca.not_after("xosan-xosan-node-host1"))
    assert 820 <= tls.days_left(got) <= 825  # LEAF_DAYS from now, made by this module's fixture


def test_status_line():
    import datetime
    now = datetime.datetime(2026, 12, 2, 12, 0, 0)
    assert tls.status_line(False, True, datetime.datetime(2029, 3, 6, 12, 0, 1), now) == \
        "TLS: management off, I/O on; certificates expire 2029-03-06 (825 days)"
    assert tls.status_line(True, False, datetime.datetime(2026, 12, 3, 13, 0, 0), now) == \
        "TLS: management on, I/O off; certificates expire 2026-12-03 (1 day)"
    assert tls.status_line(False, False, None, now) == "TLS: management off, I/O off; no certificates"
    past = datetime.datetime(2026, 11, 30, 12, 0)
    assert "EXPIRED 2026-11-30 (2 days ago)" in tls.status_line(False, True, past, now)
    assert tls.io_on({"client.ssl": "on", "server.ssl": "on"})
    assert not tls.io_on({"client.ssl": "on"}) and not tls.io_on({})


def test_deployment_status_names_the_certificate_that_expires_first(tmp_path):
    c = DeploymentCA(certs.tls_dir(str(tmp_path), "vol1"), "vol1")
    assert certs.status(c, {})["line"] == "TLS: management off, I/O off; no certificates"
    c.ensure_identity(c.name_for("node", "h1"))
    c.ensure_identity(c.name_for("dom0", "h1"), days=12)
    st = certs.status(c, {"client.ssl": "on", "server.ssl": "on"})
    assert st["io"] is True and st["management"] is False
    assert st["first_to_expire"] == "xosan-vol1-dom0-h1"
    assert st["days_left"] in (11, 12)
    assert st["line"].startswith("TLS: management off, I/O on; certificates expire ")
    assert st["line"].endswith("(%d days)" % st["days_left"])

    class Access(object):
        key_dir = os.path.join(str(tmp_path), "vol1", "ssh")
        id = "vol1"
    assert certs.of_deployment(Access()).dir == c.dir


# -- the host plugin's fn=install_tls ---------------------------------------------------------

def test_install_tls_puts_the_files_where_the_volume_options_point(ca, tmp_path):
    from xosan import plugin
    name = ca.name_for("dom0", "host1")
    ca.ensure_identity(name)
    out = plugin.install_tls_report(_args(ca, name), root=str(tmp_path))
    folder = str(tmp_path / "xosan")
    assert out["folder"] == folder == tls.cert_dir("xosan", str(tmp_path))
    assert out["files"] == sorted(tls.file_paths(folder).values())
    assert _pem(tls.file_paths(folder)["cert"]) == _pem(ca.identity(name).cert)
    assert os.stat(tls.file_paths(folder)["key"]).st_mode & 0o777 == 0o600
    assert out["not_after"] == tls.not_after(ca.identity(name).cert).strftime("%Y-%m-%dT%H:%M:%SZ")
    # a re-run (deploy resumed) writes the same again
    assert plugin.install_tls_report(_args(ca, name), root=str(tmp_path)) == out


def _refused_install(args, tmp_path, word):
    from xosan import plugin
    from xosan.errors import InvalidValue
    with pytest.raises(InvalidValue) as err:
        plugin.install_tls_report(args, root=str(tmp_path))
    assert word in str(err.value)
    assert os.listdir(str(tmp_path)) == []  # nothing written


def test_install_tls_refuses_a_certificate_of_another_ca(ca, tmp_path):
    other = DeploymentCA(str(tmp_path / "other"), "xosan")
    name = ca.name_for("dom0", "host1")
    forged = other.ensure_identity(name)
    args = dict(_args(ca, name), cert=_pem(forged.cert), key=_pem(forged.key))
    dest = tmp_path / "dest"
    dest.mkdir()
    _refused_install(args, dest, "does not verify")


def test_install_tls_refuses_a_key_that_is_not_the_certificates(ca, tmp_path):
    a, b = ca.name_for("dom0", "host1"), ca.name_for("dom0", "host 2")
    ca.ensure_identity(a)
    ca.ensure_identity(b)
    _refused_install(dict(_args(ca, a), key=_pem(ca.identity(b).key)), tmp_path, "not the certificate's key")


@pytest.mark.parametrize("change,word", [({"cert": ""}, "needs"), ({"deployment": "../etc"}, "deployment id"),
                                         ({"key": "not a key"}, "PEM"), ({"extra": "1"}, "does not take")])
def test_install_tls_refuses_bad_arguments(ca, tmp_path, change, word):
    name = ca.name_for("node", "host1")
    _refused_install(dict(_args(ca, name), **change), tmp_path, word)


class _NoLab(object):
    """Enough of a Lab for LabXapi without storage nodes: a folder, no hosts."""

    def __init__(self, workdir):
        self.state = {"workdir": workdir, "lab_id": lab_name("xt3"), "bridge": "none", "use_loop": False}
        self.hosts, self.nodes = [], []

    def save(self):
        pass


def test_install_tls_through_host_call_plugin_lands_in_each_dom0(ca, tmp_path):
    """As deploy would call it: host.call_plugin on each host, the plugin file run by dom0's Python in
    that host's dom0. The lab's dom0s have their own /var/lib (overlays), so the product path is
    written there, never on this machine."""
    import json

    import XenAPI

    from xosan.pool.xapi import Xapi
    from xosan_lab.pool_sim import LabXapi
    from xosan_lab.xapi_sim import XapiSimServer
    if os.geteuid() != 0:
        pytest.fail("the lab dom0 needs root (mount namespaces)")
    deployment = "xt3-%s" % uuid.uuid4().hex[:8]
    sim = LabXapi(_NoLab(str(tmp_path)), hosts=2)
    server = XapiSimServer(sim).start()
    try:
        x = Xapi.connect(server.url, "root", "xosan")
        names = {}
        for host in sim.hosts:
            label = sim.db["host"][host]["name_label"]
            names[host] = ca.name_for("dom0", label)
            ca.ensure_identity(names[host])
            out = json.loads(x.api.host.call_plugin(host, "xosan", "install_tls", _args(ca, names[host], deployment)))
            assert out["folder"] == tls.cert_dir(deployment)
        for host in sim.hosts:
            label = sim.db["host"][host]["name_label"]
            inside = tls.file_paths(tls.cert_dir(deployment))
            mine = sim.dom0_path(label, inside["cert"])
            assert _pem(mine) == _pem(ca.identity(names[host]).cert)  # each host its own certificate
            assert os.stat(sim.dom0_path(label, inside["key"])).st_mode & 0o777 == 0o600
        assert not os.path.exists(tls.cert_dir(deployment))  # not this machine's path
        bad = dict(_args(ca, names[sim.hosts[0]], deployment), key=_pem(ca.identity(names[sim.hosts[1]]).key))
        with pytest.raises(XenAPI.Failure) as err:
            x.api.host.call_plugin(sim.hosts[0], "xosan", "install_tls", bad)
        assert err.value.details[:3] == ["XENAPI_PLUGIN_FAILURE", "install_tls", "InvalidValue"]
    finally:
        server.stop()
        sim.close()


# -- the expiry alert (xosan/alerts.py) ---------------------------------------------------------

def test_a_certificate_near_its_end_is_an_alert_and_a_far_one_is_not(tmp_path):
    import datetime

    from xosan import alerts, plugin
    c = DeploymentCA(str(tmp_path / "state"), "vol1")
    near, far = c.name_for("dom0", "near"), c.name_for("dom0", "far")
    c.ensure_identity(near, days=20)
    c.ensure_identity(far)
    sr = {"uuid": "u1", "name": "XOSAN", "volume": "vol1"}
    assert alerts.cert_conditions(sr, root=str(tmp_path / "none")) == {}  # no certificate: TLS unused
    plugin.install_tls_report(_args(c, far, "vol1"), root=str(tmp_path / "root"))
    assert alerts.cert_conditions(sr, root=str(tmp_path / "root")) == {}
    plugin.install_tls_report(_args(c, near, "vol1"), root=str(tmp_path / "root"))
    found = alerts.cert_conditions(sr, root=str(tmp_path / "root"))
    assert list(found) == ["XOSAN_CERT_EXPIRING"]
    text = found["XOSAN_CERT_EXPIRING"]
    assert "XOSAN SR XOSAN" in text and ("(19 days)" in text or "(20 days)" in text)
    later = datetime.datetime.utcnow() + datetime.timedelta(days=25)
    assert "expired on" in alerts.cert_conditions(sr, later, str(tmp_path / "root"))["XOSAN_CERT_EXPIRING"]


def test_the_expiry_alert_is_a_xapi_message_raised_once(xapi, tmp_path):
    import XenAPI

    from xosan import alerts, plugin
    sr_ref = xapi.add("SR", {"type": "xosan", "name_label": "XOSAN", "other_config": {}, "sm_config": {}, "PBDs": []})
    session = XenAPI.Session(xapi.url)
    session.xenapi.login_with_password("root", "xosan", "1.0", "tests")
    try:
        c = DeploymentCA(str(tmp_path / "state"), "vol1")
        name = c.name_for("dom0", "host1")
        c.ensure_identity(name, days=5)
        plugin.install_tls_report(_args(c, name, "vol1"), root=str(tmp_path / "root"))
        sr = {"uuid": xapi.record("SR", sr_ref)["uuid"], "name": "XOSAN", "volume": "vol1", "verdict": "healthy"}
        first = alerts.reconcile(session.xenapi, sr, cert_root=str(tmp_path / "root"))
        again = alerts.reconcile(session.xenapi, sr, cert_root=str(tmp_path / "root"))
    finally:
        session.xenapi.session.logout()
    assert first == {"raised": ["XOSAN_CERT_EXPIRING"], "cleared": []}
    assert again == {"raised": [], "cleared": []}
    msgs = list(xapi.db["message"].values())
    assert [(m["name"], m["priority"]) for m in msgs] == [("XOSAN_CERT_EXPIRING", "3")]
    assert "certificate of this host expires on" in msgs[0]["body"]


# -- the real lab ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_lab(tmp_path_factory):
    """Three storage nodes, a replica 3 arbiter 1 volume with XOSAN's options and I/O TLS, each
    node with its own certificate; the allow list = the nodes + one dom0 name."""
    from xosan_lab import tls as labtls
    from xosan_lab.cluster import Lab
    if os.geteuid() != 0 or not shutil.which("glusterd"):
        pytest.fail("the gluster tests need root and glusterfs-server (bash .ci/run installs it)")
    work = tmp_path_factory.mktemp("tlslab")
    lab = Lab.new(str(work / "lab"), lab_id=lab_name("xs"), subnet=lab_subnet(70))
    try:
        lab.up(3, brick_size=1024 ** 3)
        ca = DeploymentCA(str(work / "state" / "tls"), "xosan")
        names = labtls.install_node_certs(lab, ca)
        dom0 = ca.name_for("dom0", "host1")
        certs.install(ca.ensure_identity(dom0), str(work / "dom0"))
        lab.create_volume("xosan", ["replica", "3", "arbiter", "1"])
        n0 = lab.nodes[0]
        n0.gluster(["volume", "stop", "xosan"])
        for option, value in tls.io_options(labtls.NODE_CERT_DIR, names + [dom0]):
            n0.gluster(["volume", "set", "xosan", option, value])
        n0.gluster(["volume", "start", "xosan"])
        yield lab, ca, work
    finally:
        labtls.umount_under(str(work))
        lab.down()


def _client(tls_lab, folder, name, extra=()):
    from xosan_lab import tls as labtls
    lab, _, work = tls_lab
    mp = str(work / ("mnt-" + name))
    ok = labtls.mount(lab, "xosan", mp, folder, str(work / ("%s.log" % name)), extra, timeout=20)
    return mp, ok


def _on_bricks(lab, fname):
    """Whether a file of that name reached any brick (not just a client's cache)."""
    return [n.name for n in lab.nodes if n.run(["test", "-e", os.path.join(n.brick_path("xosan"), fname)],
                                               check=False).returncode == 0]


@pytest.mark.gluster
def test_the_deployment_dom0_reads_and_writes(tls_lab):
    from xosan_lab import tls as labtls
    lab, _, work = tls_lab
    mp, ok = _client(tls_lab, str(work / "dom0"), "dom0")
    try:
        assert ok, open(str(work / "dom0.log")).read()[-2000:]
        fname = "ok-%s" % uuid.uuid4().hex[:8]
        data = os.urandom(65536)
        with open(os.path.join(mp, fname), "wb") as fh:
            fh.write(data)
        with open(os.path.join(mp, fname), "rb") as fh:
            assert fh.read() == data
        assert len(_on_bricks(lab, fname)) == 3  # 2 data bricks + the arbiter's entry
        log = open(str(work / "dom0.log")).read()
        assert "IO path is ENABLED" in log  # the bytes went over TLS, not plain TCP
        assert log.count("Connected, attached to remote volume") == 3
    finally:
        labtls.umount(mp)


def _refused(tls_lab, folder, name, extra=(), because=()):
    """The client ``name`` gets no brick (its log never says "attached") and says ``because``."""
    from xosan_lab import tls as labtls
    lab, _, work = tls_lab
    mp, ok = _client(tls_lab, folder, name, extra)
    fname = "stranger-%s" % uuid.uuid4().hex[:8]
    try:
        if ok:  # it answered a statvfs: it must still not get a byte onto a brick
            res = subprocess.run(["timeout", "20", "sh", "-c", "echo x > %s/%s" % (mp, fname)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
            assert res.returncode != 0, "a client %s wrote to the volume" % name
    finally:
        labtls.umount(mp)
    assert not ok, "a client %s mounted the TLS volume" % name
    assert _on_bricks(lab, fname) == []
    log = open(str(work / ("%s.log" % name))).read()
    assert "attached to remote volume" not in log
    for text in because:
        assert text in log
    assert not os.path.exists(mp + ".pid")  # its glusterfs was stopped, not left retrying


@pytest.mark.gluster
def test_a_client_without_a_certificate_cannot_connect(tls_lab):
    empty = str(tls_lab[2] / "empty")
    os.makedirs(empty, exist_ok=True)
    _refused(tls_lab, empty, "nocert", because=["could not load our cert"])


@pytest.mark.gluster
def test_a_client_with_another_cas_certificate_of_the_same_name_cannot_connect(tls_lab):
    lab, ca, work = tls_lab
    other = DeploymentCA(str(work / "other-state" / "tls"), "xosan")
    forged = other.ensure_identity(ca.name_for("dom0", "host1"))
    certs.install(forged, str(work / "forged"))
    _refused(tls_lab, str(work / "forged"), "forged", because=["socket disconnected"])


@pytest.mark.gluster
def test_a_certificate_of_the_ca_with_a_name_not_allowed_cannot_connect(tls_lab):
    lab, ca, work = tls_lab
    certs.install(ca.ensure_identity(ca.name_for("dom0", "stranger")), str(work / "notallowed"))
    # past TLS (same CA), stopped by auth.ssl-allow
    _refused(tls_lab, str(work / "notallowed"), "notallowed", because=["failed to set the volume", "Permission denied"])


@pytest.mark.gluster
def test_a_plain_tcp_client_cannot_connect(tls_lab):
    _, _, work = tls_lab
    _refused(tls_lab, str(work / "dom0"), "plain", ["*.transport.socket.ssl-enabled=off"],
             because=["socket disconnected"])


# -- management TLS: where each machine's GlusterFS reads its files, and the plugin's management=yes ---

def test_management_folder_is_read_from_the_installed_transport_with_a_documented_fallback():
    assert tls.parse_mgmt_dir("/usr/lib/ssl/glusterfs.pem\n") == "/usr/lib/ssl"
    assert tls.parse_mgmt_dir("/etc/ssl/glusterfs.pem") == "/etc/ssl"
    assert tls.parse_mgmt_dir("") == tls.MGMT_DIR_DEFAULT == "/etc/ssl"
    assert tls.parse_mgmt_dir("glusterfs.pem\nnot a path") == tls.MGMT_DIR_DEFAULT
    # this machine has Debian's GlusterFS (installed by .ci/install-deps): its compiled-in folder
    import subprocess
    out = subprocess.run(["sh", "-c", tls.MGMT_DIR_PROBE], stdout=subprocess.PIPE, universal_newlines=True).stdout
    assert tls.parse_mgmt_dir(out) == "/usr/lib/ssl", out


def test_install_tls_with_management_also_writes_the_management_files_and_the_switch(ca, tmp_path):
    from xosan import plugin
    name = ca.name_for("dom0", "host2")
    ca.ensure_identity(name)
    args = dict(_args(ca, name), management="yes")
    out = plugin.install_tls_report(args, root=str(tmp_path))
    mgmt = tmp_path / "usr" / "lib" / "ssl"   # this machine's GlusterFS folder, under the test's root
    assert out["management"] is True and out["switch_was_on"] is False
    assert _pem(str(mgmt / tls.OWN_CERT)) == _pem(ca.identity(name).cert)
    assert os.stat(str(mgmt / tls.PRIVATE_KEY)).st_mode & 0o777 == 0o600
    assert (tmp_path / tls.SECURE_ACCESS.lstrip("/")).exists()
    assert plugin.install_tls_report(args, root=str(tmp_path))["switch_was_on"] is True


def test_install_tls_refuses_a_management_value_it_does_not_know(ca, tmp_path):
    name = ca.name_for("dom0", "host3")
    ca.ensure_identity(name)
    _refused_install(dict(_args(ca, name), management="maybe"), tmp_path, "management")


# -- management TLS by default, and an older deployment's re-run -------------------------------------

def test_management_tls_is_the_default_and_a_written_tls_is_told_apart():
    from xosan.pool import manifest
    m = manifest.from_flags(addresses="10.0.50.0/24")
    assert (m.tls, m.tls_written) == ("management", False)  # docs/security-tls.md "Decision"
    m = manifest.from_flags(addresses="10.0.50.0/24", tls="off")
    assert (m.tls, m.tls_written) == ("off", True)
    m = manifest.loads("network: {addresses: 10.0.50.0/24}\ntls: management\n")
    assert (m.tls, m.tls_written) == ("management", True)
