"""HTTPS to a pool master whose certificate is self-signed: trust it by its SHA-256 fingerprint.

XCP-ng and XenServer hosts make their own self-signed certificate at install
(/etc/xensource/xapi-ssl.pem), so ordinary verification fails from any machine
but dom0. Turning verification off would let anyone on the path read the root
password; pinning the one certificate the admin checked on the host keeps that
out. Without a pin, connections verify as usual against the system's CAs.
"""

import hashlib
import http.client
import re
import ssl
import xmlrpc.client

from xosan.errors import XosanError

_HEX = re.compile(r"^[0-9a-f]{64}$")


class CertificateMismatch(XosanError):
    pass


def normalize_fingerprint(text):
    # type: (str) -> str
    """64 lower-case hex digits from what openssl prints ("AB:CD:..."), with or without "sha256:" or colons;
    ValueError when it is not a SHA-256 fingerprint."""
    t = text.strip().lower()
    if t.startswith("sha256"):
        t = t.split("=", 1)[-1] if "=" in t else t[len("sha256"):].lstrip(":")
    t = t.replace(":", "").replace(" ", "")
    if not _HEX.match(t):
        raise ValueError("not a SHA-256 fingerprint (64 hex digits, colons allowed): %r" % text)
    return t


def fingerprint_of_der(der):
    return hashlib.sha256(der).hexdigest()


def pretty(fingerprint):
    """As openssl shows it: AB:CD:..."""
    return ":".join(fingerprint[i:i + 2] for i in range(0, len(fingerprint), 2)).upper()


def server_fingerprint(host, port):
    """The SHA-256 fingerprint of the certificate ``host`` presents (not verified: for an error message)."""
    pem = ssl.get_server_certificate((host, port))
    return fingerprint_of_der(ssl.PEM_cert_to_DER_cert(pem))


def _unverified_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if hasattr(ssl, "PROTOCOL_TLS_CLIENT") \
        else ssl.SSLContext(ssl.PROTOCOL_SSLv23)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the certificate is checked against the pin right after the handshake
    return ctx


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection that accepts exactly the certificate with ``fingerprint``."""

    def __init__(self, host, port=None, fingerprint=None, timeout=60):
        http.client.HTTPSConnection.__init__(self, host, port, timeout=timeout, context=_unverified_context())
        self.fingerprint = fingerprint

    def connect(self):
        http.client.HTTPSConnection.connect(self)
        got = fingerprint_of_der(self.sock.getpeercert(binary_form=True))
        if got != self.fingerprint:
            self.sock.close()
            self.sock = None
            raise CertificateMismatch(
                "%s:%s presents the certificate %s, not the pinned %s" % (
                    self.host, self.port, pretty(got), pretty(self.fingerprint)),
                hint="If the host's certificate was renewed, check it on the host (openssl x509 -noout "
                     "-fingerprint -sha256 -in /etc/xensource/xapi-ssl.pem) and update pool.tls-fingerprint; "
                     "otherwise something is in the way")


class PinnedTransport(xmlrpc.client.SafeTransport):
    """XML-RPC over PinnedHTTPSConnection, for the XenAPI SDK's ``transport=``."""

    def __init__(self, fingerprint):
        xmlrpc.client.SafeTransport.__init__(self)
        self.fingerprint = fingerprint

    def make_connection(self, host):
        if self._connection and host == self._connection[0]:
            return self._connection[1]
        chost, self._extra_headers, _ = self.get_host_info(host)
        name, _, port = chost.rpartition(":") if chost.count(":") == 1 else (chost, "", "")
        conn = PinnedHTTPSConnection(name, int(port) if port else None, fingerprint=self.fingerprint)
        self._connection = host, conn
        return conn
