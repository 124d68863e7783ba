"""The volume options that put a volume's I/O path (client <-> bricks) under TLS.

Measured on GlusterFS 10.3 (docs/security-tls.md): ``client.ssl`` / ``server.ssl`` switch TLS on
for the client and brick sides; ``ssl.own-cert``, ``ssl.private-key`` and ``ssl.ca-list`` are
written into BOTH the brick and the client volfiles, so one path has to hold each machine's own
files on every machine (storage VMs, witness, dom0s) -- the default, /etc/ssl/glusterfs.*, is one
global place per machine that another deployment (or another lab on the same machine) would
share, hence a folder per deployment. ``auth.ssl-allow`` limits the bricks to the deployment's
certificate names (its default ``*`` admits any certificate the CA list accepts).

Management TLS (glusterd <-> glusterd and CLI, volfile fetches) is not a volume option: glusterd, the
CLI and every client turn it on from the existence of the fixed file /var/lib/glusterd/secure-access
when they start and then read /etc/ssl/glusterfs.* -- one state per machine, not per volume
(SECURE_ACCESS, MGMT_DIR below; xosan/pool/certs.py puts them there).
"""

import datetime
import os
import posixpath

from xosan import proc
from xosan.errors import CommandFailed, XosanError

# The folder a machine keeps its files in for deployment ``<id>`` (the same on every machine,
# since the options put it in both volfiles). Under glusterd's own state folder: a storage VM keeps
# everything GlusterFS needs there, a dom0 needs /var/lib/glusterd for management TLS's switch file
# anyway, and glusterd only reads the sub-folders it knows (vols, peers, snaps...).
CERT_ROOT = "/var/lib/glusterd/xosan-tls"
OWN_CERT, PRIVATE_KEY, CA_LIST = "glusterfs.pem", "glusterfs.key", "glusterfs.ca"

# GlusterFS' socket.c default minus nothing: named so that a change is a decision, not an accident.
CERT_DEPTH = "1"  # leaf signed directly by the deployment CA


class TLSConfigError(XosanError):
    pass


def cert_dir(deployment_id, root=CERT_ROOT):
    # type: (str, str) -> str
    if not deployment_id or "/" in deployment_id or deployment_id.startswith("."):
        raise TLSConfigError("%r is not a deployment id for a certificate folder" % (deployment_id,))
    return posixpath.join(root, deployment_id)


def file_paths(folder):
    # type: (str) -> dict
    """{"cert", "key", "ca"}: the three paths in ``folder`` as the volfiles name them."""
    if not posixpath.isabs(folder):
        raise TLSConfigError("the certificate folder %r is not an absolute path" % folder,
                             hint="Every machine resolves it on its own file system: give a path from /")
    return {"cert": posixpath.join(folder, OWN_CERT), "key": posixpath.join(folder, PRIVATE_KEY),
            "ca": posixpath.join(folder, CA_LIST)}


def ssl_allow(names):
    # type: (list) -> str
    """The auth.ssl-allow value: exactly these CNs. An empty list would be glusterd's default
    ``*``-like openness in spirit (no one) and a typo in practice, so it is refused."""
    names = sorted(set(names))
    if not names:
        raise TLSConfigError("auth.ssl-allow needs at least one certificate name")
    for n in names:
        if not n or any(c in n for c in ", *?[]\t\n"):
            raise TLSConfigError("%r cannot be an auth.ssl-allow entry (no commas, spaces or glob characters)" % n)
    return ",".join(names)


def io_options(folder, allowed_names):
    # type: (str, list) -> list
    """[(option, value)] that turn on TLS for the volume's I/O path: set them while the volume is
    stopped (bricks and clients only read them at connect), before the first client mounts."""
    p = file_paths(folder)
    return [
        ("ssl.own-cert", p["cert"]),
        ("ssl.private-key", p["key"]),
        ("ssl.ca-list", p["ca"]),
        ("ssl.certificate-depth", CERT_DEPTH),
        ("auth.ssl-allow", ssl_allow(allowed_names)),
        ("client.ssl", "on"),
        ("server.ssl", "on"),
    ]


# What `xosan plan` and docs/manifest.md say I/O TLS costs: bench/tls.py, docs/security-tls.md.
IO_COST = ("4K random read 0.61x, 4K random write 0.59x, 1M sequential 0.64x/0.71x of the throughput "
           "without TLS (bench/tls.py on the lab, docs/security-tls.md)")


def off_options():
    # type: () -> list
    """What turns I/O TLS back off (the paths may stay: they are unused without ssl)."""
    return [("client.ssl", "off"), ("server.ssl", "off")]


def client_overrides(folder):
    # type: (str) -> list
    """``glusterfs --xlator-option`` values that make ONE client read its files from ``folder``
    instead of the path in the volfile. Only the lab needs this (its nodes and dom0s share one file
    system); mount.glusterfs passes a single xlator-option, so the lab starts glusterfs itself."""
    p = file_paths(folder)
    return ["*.transport.socket.ssl-own-cert=%s" % p["cert"],
            "*.transport.socket.ssl-private-key=%s" % p["key"],
            "*.transport.socket.ssl-ca-list=%s" % p["ca"]]


def installed(folder):
    # type: (str) -> bool
    """Whether this machine has all three files in ``folder``."""
    return all(os.path.exists(path) for path in file_paths(folder).values())


# -- a machine's files, their expiry and the status line ------------------------------------------

# Management TLS (module doc): the switch glusterd, the CLI and every client read at start, and the
# one folder they take their files from (no option moves it for the CLI and the clients' volfile fetch).
SECURE_ACCESS = "/var/lib/glusterd/secure-access"
# The folder is compiled into GlusterFS (its build's OpenSSL directory: /usr/lib/ssl in Debian's
# packages, which the storage VM runs, as the lab's glusterd logged: "could not load our cert at
# /usr/lib/ssl/glusterfs.pem"; /etc/ssl in upstream's documentation), and no option moves it for the
# CLI and the clients' volfile fetch. So each machine is asked: the path stands in its installed
# socket transport; /etc/ssl when none is found.
MGMT_DIR_DEFAULT = "/etc/ssl"
MGMT_DIR_PROBE = ("for f in /usr/lib64/glusterfs/*/rpc-transport/socket.so "
                  "/usr/lib/glusterfs/*/rpc-transport/socket.so /usr/lib/*/glusterfs/*/rpc-transport/socket.so; "
                  "do if [ -f \"$f\" ]; then "
                  "grep -aoE '/[A-Za-z0-9/._-]+/glusterfs[.]pem' \"$f\" | head -n 1; break; fi; done; true")


def parse_mgmt_dir(output):
    # type: (str) -> str
    """The folder of MGMT_DIR_PROBE's answer (MGMT_DIR_DEFAULT when it found nothing)."""
    for line in (output or "").splitlines():
        line = line.strip()
        if line.startswith("/") and line.endswith("/" + OWN_CERT):
            return posixpath.dirname(line)
    return MGMT_DIR_DEFAULT

_PEM_KINDS = {OWN_CERT: ("CERTIFICATE",), CA_LIST: ("CERTIFICATE",),
              PRIVATE_KEY: ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")}
MAX_PEM = 64 * 1024


def check_pem(fname, text):
    # type: (str, str) -> str
    """``text`` if it is PEM of the kind file ``fname`` holds, else TLSConfigError: what a machine is
    handed comes from another one (XAPI arguments), and a truncated key would only show later as a
    brick refusing every connection."""
    kinds = _PEM_KINDS.get(fname)
    if kinds is None:
        raise TLSConfigError("%r is not one of the files GlusterFS reads (%s)" % (fname, ", ".join(sorted(_PEM_KINDS))))
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_PEM:
        raise TLSConfigError("%s is empty or longer than %d characters" % (fname, MAX_PEM))
    body = text.strip()
    if not any(body.startswith("-----BEGIN %s-----" % k) and body.endswith("-----END %s-----" % k) for k in kinds):
        raise TLSConfigError("%s is not PEM of a %s" % (fname, " or ".join(kinds).lower()),
                             hint="Pass the file's whole text, from -----BEGIN to -----END")
    return body + "\n"


def write_files(folder, files):
    # type: (str, dict) -> dict
    """Write {file name: PEM text} in ``folder`` (made 0700; the key 0600, the others 0644), each
    through a temporary file and a rename so a reader never sees half a file; {file name: path}.
    Every text is checked before the first is written: a bad call changes nothing."""
    checked = dict((fname, check_pem(fname, text)) for fname, text in files.items())
    os.makedirs(folder, mode=0o700, exist_ok=True)
    paths = {}
    for fname, text in sorted(checked.items()):
        path = os.path.join(folder, fname)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if fname == PRIVATE_KEY else 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600 if fname == PRIVATE_KEY else 0o644)  # an old .tmp keeps its mode otherwise
        os.rename(tmp, path)
        paths[fname] = path
    return paths


def parse_not_after(text):
    # type: (str) -> datetime.datetime
    """The UTC datetime of openssl's ``notAfter=Dec  2 05:00:00 2028 GMT`` (with or without the key)."""
    value = text.strip().split("=", 1)[-1].strip()
    try:
        return datetime.datetime.strptime(value, "%b %d %H:%M:%S %Y GMT")
    except ValueError:
        raise TLSConfigError("%r is not a certificate expiry as openssl prints it" % value)


def not_after(cert_path):
    # type: (str) -> datetime.datetime
    """When the certificate at ``cert_path`` expires (UTC), read by openssl (on dom0 as on a node)."""
    try:
        return parse_not_after(proc.run(["openssl", "x509", "-noout", "-enddate", "-in", cert_path]).stdout)
    except CommandFailed as exc:
        raise TLSConfigError("cannot read the expiry of %s: %s" % (cert_path, exc.message))


def days_left(expiry, now=None):
    # type: (datetime.datetime, datetime.datetime) -> int
    """Whole days until ``expiry`` (negative once past)."""
    delta = expiry - (now or datetime.datetime.utcnow())
    return delta.days


def status_line(management, io, expiry, now=None):
    # type: (bool, bool, object, datetime.datetime) -> str
    """``TLS: management on, I/O off; certificates expire 2028-12-02 (730 days)``: what
    ``xosan status`` prints; ``expiry`` None when no certificate exists."""
    head = "TLS: management %s, I/O %s" % ("unknown" if management is None else "on" if management else "off",
                                            "on" if io else "off")
    if expiry is None:
        return head + "; no certificates"
    n = days_left(expiry, now)
    if n < 0:
        return head + "; certificates EXPIRED %s (%d days ago)" % (expiry.strftime("%Y-%m-%d"), -n)
    return head + "; certificates expire %s (%d day%s)" % (expiry.strftime("%Y-%m-%d"), n, "" if n == 1 else "s")


def io_on(options):
    # type: (dict) -> bool
    """Whether a volume's options (``volume info``) have TLS on its I/O path (both ends)."""
    return all(str(options.get(k, "off")).lower() in ("on", "yes", "true", "enable", "1")
               for k in ("client.ssl", "server.ssl"))
