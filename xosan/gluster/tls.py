"""The volume options that put a volume's I/O path (client <-> bricks) under TLS.

Measured on GlusterFS 10.3 (docs/security-tls.md): ``client.ssl`` / ``server.ssl`` switch TLS on
for the client and brick sides; ``ssl.own-cert``, ``ssl.private-key`` and ``ssl.ca-list`` are
written into BOTH the brick and the client volfiles, so one path has to hold each machine's own
files on every machine (storage VMs, witness, dom0s) -- the default, /etc/ssl/glusterfs.*, is one
global place per machine that another deployment (or another lab on the same machine) would
share, hence a folder per deployment. ``auth.ssl-allow`` limits the bricks to the deployment's
certificate names (its default ``*`` admits any certificate the CA list accepts).

Management TLS (glusterd <-> glusterd and CLI, volfile fetches) is not set here: glusterd turns it
on only from the existence of the fixed file /var/lib/glusterd/secure-access and then reads
/etc/ssl/glusterfs.* (glusterd.vol can move those paths) -- one state per machine, not per volume.
"""

import os
import posixpath

from xosan.errors import XosanError

# The folder a machine keeps its files in for deployment ``<id>`` (the same on every machine,
# since the options put it in both volfiles).
CERT_ROOT = "/var/lib/xosan/tls"
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
