"""The deployment's own certificate authority for GlusterFS TLS.

GlusterFS TLS authenticates both ends with X.509 and authorises clients by the common name of
their certificate (``auth.ssl-allow``). A public CA would be wrong here: anyone with a
certificate from it could pass the check. So each deployment makes its own CA, kept next to its
SSH keys in the state dir (``<state-dir>/tls``, see access.py), signs one certificate per machine
(storage VM, witness, dom0) and nothing else; revoking everything is removing that folder and
making a new CA. The openssl command line does the crypto so dom0 (Python 3.6, no
``cryptography`` package) needs nothing new; a config file of our own is always passed, so the
result does not depend on the distribution's openssl.cnf (1.0.2 on old dom0s, 3.x here).
"""

import os
import re
import tempfile

from xosan import proc
from xosan.errors import CommandFailed, XosanError
from xosan.gluster import tls

# Where GlusterFS reads its files under the names it expects (socket.c's defaults are these
# basenames in /etc/ssl; XOSAN points the volume options at its own folder instead).
OWN_CERT, PRIVATE_KEY, CA_LIST = "glusterfs.pem", "glusterfs.key", "glusterfs.ca"

CA_DAYS = 3650
LEAF_DAYS = 825  # what browsers accept for a leaf; rotation is meant to happen well before
# Keys. The CA's: RSA-3072 (it signs a leaf now and then; checking its signature, in every
# handshake, is cheap). Each machine's leaf: ECDSA P-256, because every new TLS connection costs the
# server a signature with its leaf key and the client one with its own, and RSA-3072 signs ~100x
# slower (openssl speed here: 436 vs 42,132 signatures/s). A shorter handshake also narrows a
# GlusterFS race: glusterd writes to TLS connections still in their handshake when it commits a
# volume set, and a client graph switch opens such connections at that very moment; measured under
# management TLS and CPU load, P-256 leaves about halved the switches that failed dom0 writes, not
# to none (docs/security-tls.md, bench/graphswitch.py).
CA_KEY = ["-newkey", "rsa:3072"]
LEAF_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]

# auth.ssl-allow is a comma-separated list matched with fnmatch: a name must hold no comma,
# space or glob character, and a CN is at most 64 characters (RFC 5280 ub-common-name).
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

_CONFIG = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class CertError(XosanError):
    pass


def check_name(name):
    # type: (str) -> str
    """``name`` if it can be a certificate CN and an auth.ssl-allow entry, else CertError."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise CertError("%r cannot be a certificate name" % (name,),
                        hint="Use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


class Identity(object):
    """One machine's certificate and key in the state dir."""

    def __init__(self, name, cert, key, ca):
        self.name, self.cert, self.key, self.ca = name, cert, key, ca

    def files(self):
        """{file name GlusterFS reads: content}: what a machine needs, to be put in one folder."""
        out = {}
        for fname, path in ((OWN_CERT, self.cert), (PRIVATE_KEY, self.key), (CA_LIST, self.ca)):
            with open(path) as fh:
                out[fname] = fh.read()
        return out


class DeploymentCA(object):
    def __init__(self, tls_dir, deployment_id):
        self.dir = tls_dir
        self.id = deployment_id
        self.ca_cert = os.path.join(tls_dir, "ca.pem")
        self.ca_key = os.path.join(tls_dir, "ca.key")

    def name_for(self, role, name):
        # type: (str, str) -> str
        """The CN of ``role`` ("node", "dom0", "witness") ``name``: the deployment id in it, so two
        deployments' lists never share a name."""
        return check_name("xosan-%s-%s-%s" % (self.id, role, re.sub(r"[^A-Za-z0-9._-]", "-", name)))

    def _openssl(self, args, timeout=120):
        with tempfile.NamedTemporaryFile("w", suffix=".cnf", delete=False) as fh:
            fh.write(_CONFIG)
            cfg = fh.name
        try:
            return proc.run(["openssl"] + [a if a != "@CONFIG@" else cfg for a in args], timeout=timeout)
        except CommandFailed as exc:
            raise CertError("openssl failed in %s: %s" % (self.dir, exc.message))
        finally:
            os.unlink(cfg)

    def ensure_ca(self):
        # type: () -> str
        """Make the CA once (re-runs keep it: every certificate already out there chains to it)."""
        if os.path.exists(self.ca_cert) and os.path.exists(self.ca_key):
            return self.ca_cert
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        key_tmp = self.ca_key + ".tmp"
        self._openssl(["req", "-config", "@CONFIG@", "-x509", "-new"] + CA_KEY + [
                       "-nodes", "-sha256", "-days", str(CA_DAYS), "-extensions", "ca",
                       "-subj", "/CN=%s" % check_name("xosan-%s-ca" % self.id),
                       "-keyout", key_tmp, "-out", self.ca_cert + ".tmp"])
        os.chmod(key_tmp, 0o600)
        os.rename(key_tmp, self.ca_key)
        os.rename(self.ca_cert + ".tmp", self.ca_cert)
        return self.ca_cert

    def identity(self, name):
        # type: (str) -> Identity
        base = os.path.join(self.dir, check_name(name))
        return Identity(name, base + ".pem", base + ".key", self.ca_cert)

    def ensure_identity(self, name, days=LEAF_DAYS):
        # type: (str, int) -> Identity
        """The certificate of CN ``name`` signed by the CA, made once."""
        ident = self.identity(name)
        if os.path.exists(ident.cert) and os.path.exists(ident.key):
            return ident
        self.ensure_ca()
        self._sign_leaf(name, ident.key + ".tmp", ident.cert + ".tmp", days)
        os.rename(ident.key + ".tmp", ident.key)
        os.rename(ident.cert + ".tmp", ident.cert)
        return ident

    def _sign_leaf(self, name, key_out, cert_out, days):
        # type: (str, str, str, int) -> None
        """A new key (0600) at ``key_out`` and its leaf for CN ``name``, signed by this CA, at
        ``cert_out``; the caller renames them into place."""
        csr = cert_out + ".csr"
        self._openssl(["req", "-config", "@CONFIG@", "-new"] + LEAF_KEY + ["-nodes",
                       "-sha256", "-subj", "/CN=%s" % name, "-keyout", key_out, "-out", csr])
        os.chmod(key_out, 0o600)
        try:
            self._openssl(["x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                           "-set_serial", "0x" + os.urandom(16).hex(), "-sha256", "-days", str(days),
                           "-extfile", "@CONFIG@", "-extensions", "leaf", "-out", cert_out])
        finally:
            os.unlink(csr)

    def renew_identity(self, name, days=LEAF_DAYS):
        # type: (str, int) -> Identity
        """A new key and certificate for CN ``name`` signed by the SAME CA (rotation: every machine's
        CA list stays valid, so old and new leaves are accepted side by side while they are handed
        out). Made next to the old pair (``.new``), checked against the CA, and only then renamed
        over it, the old pair kept as ``.old``: a failed openssl leaves the working pair in place."""
        ident = self.identity(name)
        if not (os.path.exists(self.ca_cert) and os.path.exists(self.ca_key)):
            raise CertError("the CA of %s is not in %s" % (self.id, self.dir),
                            hint="Rotation re-signs with the deployment's own CA; without it every machine "
                                 "would need a new CA list: re-run deploy instead")
        new_cert, new_key = ident.cert + ".new", ident.key + ".new"
        self._sign_leaf(name, new_key, new_cert, days)
        self.verify_file(new_cert)
        for cur, made in ((ident.key, new_key), (ident.cert, new_cert)):
            if os.path.exists(cur):
                os.rename(cur, cur + ".old")
            os.rename(made, cur)
        return ident

    def names(self):
        # type: () -> list
        """Every CN this CA signed (the files in its folder), sorted: the auth.ssl-allow list."""
        if not os.path.isdir(self.dir):
            return []
        return sorted(f[:-4] for f in os.listdir(self.dir)
                      if f.endswith(".pem") and f != "ca.pem" and _NAME.match(f[:-4]))

    def verify(self, name):
        # type: (str) -> None
        """CertError unless ``name``'s certificate chains to this CA."""
        self.verify_file(self.identity(name).cert)

    def verify_file(self, cert_path):
        # type: (str) -> None
        """CertError unless the certificate at ``cert_path`` chains to this CA (openssl verify): what
        a brick will check, asked before a machine is given the file."""
        try:
            proc.run(["openssl", "verify", "-CAfile", self.ca_cert, cert_path])
        except CommandFailed as exc:
            raise CertError("certificate %s does not verify against the CA of %s: %s"
                            % (cert_path, self.id, exc.message))

    def not_after(self, name):
        # type: (str) -> str
        """The certificate's expiry as openssl prints it ("Dec  2 05:00:00 2028 GMT")."""
        out = proc.run(["openssl", "x509", "-noout", "-enddate", "-in", self.identity(name).cert]).stdout
        return out.strip().split("=", 1)[1]


def install(identity, dest_dir):
    # type: (Identity, str) -> dict
    """Write ``identity``'s three files in ``dest_dir`` (the key 0600), atomically one by one; return
    {file name: path}. Where a machine keeps them is the caller's (see xosan/gluster/tls.py)."""
    os.makedirs(dest_dir, mode=0o700, exist_ok=True)
    paths = {}
    for fname, content in sorted(identity.files().items()):
        path = os.path.join(dest_dir, fname)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if fname == PRIVATE_KEY else 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
        os.rename(tmp, path)
        paths[fname] = path
    return paths


def tls_dir(state_dir, deployment_id):
    # type: (str, str) -> str
    """Where deployment ``deployment_id`` keeps its CA, next to its SSH keys (``<state>/<id>/ssh``)."""
    return os.path.join(state_dir, deployment_id, "tls")


def earliest_expiry(ca):
    # type: (DeploymentCA) -> tuple
    """(UTC datetime, CN) of the certificate of ``ca`` that expires first (the CA's own included:
    past it no leaf verifies), or (None, None) when it signed nothing."""
    found = []
    for name in ca.names():
        found.append((tls.not_after(ca.identity(name).cert), name))
    if os.path.exists(ca.ca_cert):
        found.append((tls.not_after(ca.ca_cert), "xosan-%s-ca" % ca.id))
    return min(found) if found else (None, None)


def status(ca, volume_options, management=False, now=None):
    # type: (DeploymentCA, dict, bool, object) -> dict
    """What ``xosan status`` shows of TLS: {"management", "io", "not_after", "days_left", "first_to_expire",
    "line"}. I/O is read from the volume's options (what the bricks do), management is what the
    caller found on a storage VM (certs.management_on)."""
    io = tls.io_on(volume_options or {})
    expiry, name = earliest_expiry(ca)
    return {"management": None if management is None else bool(management), "io": io,
            "not_after": expiry.strftime("%Y-%m-%dT%H:%M:%SZ") if expiry else None,
            "days_left": tls.days_left(expiry, now) if expiry else None, "first_to_expire": name,
            "line": tls.status_line(management, io, expiry, now)}


def of_deployment(access):
    # type: (object) -> DeploymentCA
    """The CA of the deployment whose SSH keys ``access`` (access.NodeAccess) holds: same state dir."""
    return DeploymentCA(os.path.join(os.path.dirname(access.key_dir.rstrip("/")), "tls"), access.id)


# -- handing the certificates out (deploy, tls: io) ------------------------------------------------

def push_to_node(target, identity, folder, management=False):
    # type: (object, Identity, str, bool) -> bool
    """Write ``identity``'s files in ``folder`` on a storage VM or witness over the SSH channel deploy
    already has (``target``: access.NodeAccess.target). The text goes base64 in the command line (no
    quoting to get wrong), through a temporary file and a rename; the key 0600. ``management``: the
    same files also where the node's GlusterFS reads them for management (tls.MGMT_DIR_PROBE; the
    folder itself left as it is) and the management TLS switch file; True
    when the switch is new there, i.e. glusterd must be restarted to take it."""
    import base64
    lines = ["set -e", "umask 077", "mkdir -p %s" % folder, "chmod 700 %s" % folder]
    mgmt = []
    if management:
        probe = target.run(["sh", "-c", tls.MGMT_DIR_PROBE], timeout=60)
        mgmt = [tls.parse_mgmt_dir(probe.stdout)]
    for where in [folder] + mgmt:
        for fname, text in sorted(identity.files().items()):
            tls.check_pem(fname, text)
            path = "%s/%s" % (where, fname)
            lines += ["echo %s | base64 -d > %s.tmp" % (base64.b64encode(text.encode()).decode(), path),
                      "chmod %s %s.tmp" % ("600" if fname == PRIVATE_KEY else "644", path),
                      "mv -f %s.tmp %s" % (path, path)]
    if management:
        lines += ["if [ -e {0} ]; then echo switch-was-on; else touch {0}; echo switch-new; fi".format(
            tls.SECURE_ACCESS)]
    out = target.run(["sh", "-c", "; ".join(lines)], timeout=60)
    return management and "switch-new" in out.stdout


def management_on(target):
    # type: (object) -> bool
    """Whether the storage VM behind ``target`` has management TLS's switch file (its glusterd, once
    started with it, talks TLS only)."""
    out = target.run(["sh", "-c", "if [ -e %s ]; then echo on; else echo off; fi" % tls.SECURE_ACCESS], timeout=60)
    return out.stdout.strip() == "on"


# How a storage VM's glusterd takes a new switch file or certificate: its unit restarted. Bricks and
# the self-heal daemon are not in the unit's kill set (KillMode=process): I/O goes on.
RESTART_GLUSTERD = ["systemctl", "restart", "glusterd"]


def install_on_dom0(api, host_ref, deployment_id, identity, management=False):
    # type: (object, str, str, Identity, bool) -> dict
    """``identity``'s files onto a dom0 through the host plugin (plugin.install_tls_report): XAPI reaches
    every host of the pool, where the deployer has no SSH."""
    import json
    files = identity.files()
    return json.loads(api.host.call_plugin(host_ref, "xosan", "install_tls", {
        "deployment": deployment_id, "cert": files[OWN_CERT], "key": files[PRIVATE_KEY], "ca": files[CA_LIST],
        "management": "yes" if management else "no"}))


def distribute(p, ca, access, api, nodes, dom0s, management=False):
    # type: (object, DeploymentCA, object, object, list, list, bool) -> tuple
    """Certificates for every storage VM / witness (``nodes``: [(name, address)]) and every dom0
    (``dom0s``: [(name, host ref)]), made once in the state dir and (re)installed on each: a re-run
    puts the same files again. ``management``: management TLS's files and switch too. Returns (the
    CNs, the auth.ssl-allow list; the addresses of the nodes whose glusterd must restart to take the
    switch)."""
    folder = tls.cert_dir(ca.id)
    names, restart = [], []
    for name, address in nodes:
        ident = ca.ensure_identity(ca.name_for("node", name))
        if push_to_node(access.target(address), ident, folder, management):
            restart.append(address)
        names.append(ident.name)
        p.info("TLS certificate %s on %s" % (ident.name, address))
    for name, ref in dom0s:
        ident = ca.ensure_identity(ca.name_for("dom0", name))
        install_on_dom0(api, ref, ca.id, ident, management)
        names.append(ident.name)
        p.info("TLS certificate %s on the dom0 of %s" % (ident.name, name))
    return names, restart


def restart_glusterd(p, access, addresses):
    # type: (object, object, list) -> None
    """glusterd restarted on each of ``addresses`` (the caller waits for it to answer)."""
    for address in addresses:
        access.target(address).run(RESTART_GLUSTERD, timeout=180)
        p.info("glusterd restarted on %s (management TLS)" % address)


# -- rotation (xosan/pool/rotate.py) -------------------------------------------------------------

def s_client_command(address, port, folder):
    # type: (str, int, str) -> str
    """The shell command that opens a NEW TLS connection to ``address:port`` from a node, with the
    node's own files in ``folder`` as the client certificate (glusterd and the bricks demand one),
    and prints what openssl s_client saw (the server's certificate first)."""
    p = tls.file_paths(folder)
    return ("echo | timeout 15 openssl s_client -connect %s:%d -cert %s -key %s -CAfile %s 2>/dev/null"
            % (address, port, p["cert"], p["key"], p["ca"]))


def serial_of(cert_path):
    # type: (str) -> str
    """The certificate's serial as upper-case hex without leading zeros (openssl's ``-serial``)."""
    try:
        out = proc.run(["openssl", "x509", "-noout", "-serial", "-in", cert_path]).stdout
    except CommandFailed as exc:
        raise CertError("cannot read the serial of %s: %s" % (cert_path, exc.message))
    return parse_serial(out)


def parse_serial(text):
    # type: (str) -> str
    """``serial=0A1B...`` (openssl) as ``A1B...``: one spelling whichever openssl printed it."""
    value = (text or "").strip().split("=", 1)[-1].strip().upper().lstrip("0")
    if not value or not re.match(r"^[0-9A-F]+$", value):
        raise CertError("%r is not a certificate serial as openssl prints it" % (text,))
    return value
