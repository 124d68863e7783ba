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
    opts = dict(tls.io_options("/var/lib/xosan/tls/xosan", ["b", "a", "b"]))
    assert opts["ssl.own-cert"] == "/var/lib/xosan/tls/xosan/glusterfs.pem"
    assert opts["ssl.private-key"] == "/var/lib/xosan/tls/xosan/glusterfs.key"
    assert opts["ssl.ca-list"] == "/var/lib/xosan/tls/xosan/glusterfs.ca"
    assert opts["auth.ssl-allow"] == "a,b"
    assert opts["client.ssl"] == opts["server.ssl"] == "on"
    # the switches come last: paths and allow list are in place when TLS turns on
    assert [k for k, _ in tls.io_options("/x", ["a"])][-2:] == ["client.ssl", "server.ssl"]
    assert tls.cert_dir("xosan") == "/var/lib/xosan/tls/xosan"


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
