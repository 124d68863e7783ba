"""XAPI access on the official XenAPI SDK: login, async tasks with progress, errors.

The same code talks to a real pool master and to the lab's XAPI simulator:
only the URL differs.
"""

import getpass
import http.client
import os
import socket
import ssl
import sys
import time
from urllib.parse import urlencode, urlsplit

import XenAPI

from xosan.errors import XosanError
from xosan.pool import tls

LOCAL_SOCKET = "/var/lib/xcp/xapi"
UPLOAD_CHUNK = 1024 * 1024


class XapiError(XosanError):
    """A XAPI failure; ``code`` is XAPI's error code (e.g. HANDLE_INVALID), ``params`` the rest."""

    def __init__(self, code, params=(), message=None, hint=None):
        self.code = code
        self.params = list(params)
        XosanError.__init__(self, message or "XAPI error %s%s" % (
            code, (": " + ", ".join(str(p) for p in self.params)) if self.params else ""), hint)


def from_failure(failure):
    details = list(getattr(failure, "details", []) or [str(failure)])
    return XapiError(str(details[0]), details[1:])


def parse_task_result(text):
    """XAPI gives a task's result as an XML-RPC value ("<value>OpaqueRef:...</value>")."""
    if not text or not text.strip().startswith("<value"):
        return text
    import xmlrpc.client
    (value,), _ = xmlrpc.client.loads("<methodResponse><params><param>%s</param></params></methodResponse>"
                                       % text.strip())
    return value


def read_password(password_file=None, prompt=True):
    # type: (str, bool) -> str
    """From a file (first line) or an interactive prompt: never from the command line."""
    if password_file:
        try:
            with open(password_file) as fh:
                return fh.readline().rstrip("\r\n")
        except OSError as exc:
            raise XosanError("cannot read the password file %s: %s" % (password_file, exc.strerror))
    env = os.environ.get("XOSAN_PASSWORD_FILE")
    if env:
        return read_password(env, prompt=False)
    if prompt and sys.stdin.isatty():
        return getpass.getpass("XAPI password: ")
    raise XosanError("no XAPI password", hint="Give --password-file FILE (or XOSAN_PASSWORD_FILE), "
                                             "or run interactively to be prompted")


class Xapi(object):
    """A logged-in XAPI session. ``x.api`` is the SDK's ``session.xenapi``."""

    def __init__(self, session, url, fingerprint=None):
        self.session = session
        self.url = url
        self.api = session.xenapi
        self.fingerprint = fingerprint

    @classmethod
    def connect(cls, url, username="root", password=None, password_file=None, fingerprint=None,
                redirected_from=None):
        """Log in to the master at ``url``; ``fingerprint``: the SHA-256 of its certificate, to trust a
        self-signed one (https only). A pool member answers HOST_IS_SLAVE with the master's address:
        that address is tried once (``redirected_from``: the member that named it)."""
        if url in (None, "", "local"):
            return cls.local()
        if password is None:
            password = read_password(password_file)
        pinned = fingerprint and url.startswith("https:")
        session = XenAPI.Session(url, transport=tls.PinnedTransport(fingerprint) if pinned else None)
        try:
            session.xenapi.login_with_password(username, password, "1.0", "xosan")
        except XenAPI.Failure as exc:
            err = from_failure(exc)
            if err.code == "HOST_IS_SLAVE" and err.params:
                scheme = url.split("://", 1)[0]
                if pinned:
                    raise XosanError("%s is not the pool master; the master is %s" % (url, err.params[0]),
                                     hint="Give the master's URL and its certificate's fingerprint")
                if redirected_from is not None:
                    raise XosanError("%s is not the pool master either (%s named it; it names %s)"
                                     % (url, redirected_from, err.params[0]),
                                     hint="The pool is changing masters or is split: give the master's URL")
                return cls.connect("%s://%s" % (scheme, err.params[0]), username, password,
                                   redirected_from=url)
            raise XapiError(err.code, err.params, "cannot log in to %s as %s: %s" % (url, username, err.code))
        except ssl.SSLError as exc:
            if "CERTIFICATE_VERIFY_FAILED" not in str(exc):
                raise XosanError("TLS to %s failed: %s" % (url, exc))
            raise XosanError("the certificate of %s is not trusted here (%s)" % (url, exc.reason or exc),
                             hint=_pin_hint(url))
        except OSError as exc:
            raise XosanError("cannot reach XAPI at %s: %s" % (url, exc), hint="Check the pool master's address")
        return cls(session, url, fingerprint if pinned else None)

    @classmethod
    def local(cls):
        """dom0's own xapi, over its unix socket."""
        session = XenAPI.xapi_local()
        try:
            session.xenapi.login_with_password("root", "", "1.0", "xosan")
        except (XenAPI.Failure, OSError) as exc:
            raise XosanError("cannot log in to the local xapi: %s" % exc,
                             hint="Run on a pool host's dom0, or give the master URL")
        return cls(session, "local")

    def call(self, fn, *args):
        """Call an SDK method, turning failures into XapiError."""
        try:
            return fn(*args)
        except XenAPI.Failure as exc:
            raise from_failure(exc)

    def wait_task(self, task, progress=None, timeout=3600, poll=0.5):
        """Wait for an async task; ``progress(fraction)`` is called as it moves; return its result."""
        deadline = time.time() + timeout
        last = None
        try:
            while True:
                status = self.call(self.api.task.get_status, task)
                frac = float(self.call(self.api.task.get_progress, task))
                if progress and frac != last:
                    progress(frac)
                    last = frac
                if status != "pending":
                    break
                if time.time() > deadline:
                    raise XosanError("XAPI task %s still running after %s s" % (task, timeout))
                time.sleep(poll)
            if status == "success":
                return parse_task_result(self.call(self.api.task.get_result, task))
            info = self.call(self.api.task.get_error_info, task) or [status]
            raise XapiError(info[0], info[1:])
        finally:
            try:
                self.api.task.destroy(task)
            except Exception:
                pass

    def run_async(self, name, *args, **kw):
        """``run_async("VM.start", vm, False, False)``: start ``Async.<name>`` and wait for it."""
        cls, method = name.split(".")
        fn = getattr(getattr(self.api.Async, cls), method)
        task = self.call(fn, *args)
        return self.wait_task(task, progress=kw.get("progress"), timeout=kw.get("timeout", 3600))

    def upload(self, handler, query, path, progress=None, timeout=600, host=None):
        # type: (str, dict, str, object, float, str) -> None
        """PUT the file ``path`` to one of xapi's HTTP handlers (``/import_raw_vdi``) with this session.

        XML-RPC cannot carry disk images, so xapi takes them on plain HTTP next to
        the API, authenticated by ``session_id`` in the query. ``progress(sent, total)``
        is called as the bytes go. A task given as ``task_id`` in ``query`` is where xapi
        reports the outcome: xapi answers 200 before it reads the body, so errors in the
        image show up only there. ``host``: the address of the pool host to send to, for
        an SR only that host sees (xapi would answer 302; a PUT body is not sent twice).
        """
        params = dict(query, session_id=self.session.handle)
        target = "%s?%s" % (handler, urlencode(sorted(params.items())))
        total = os.path.getsize(path)
        conn = self._http_connection(timeout, host)
        try:
            conn.putrequest("PUT", target)
            conn.putheader("Content-Length", str(total))
            conn.putheader("Content-Type", "application/octet-stream")
            conn.endheaders()
            sent = 0
            with open(path, "rb") as fh:
                while True:
                    chunk = fh.read(UPLOAD_CHUNK)
                    if not chunk:
                        break
                    conn.send(chunk)
                    sent += len(chunk)
                    if progress:
                        progress(sent, total)
            resp = conn.getresponse()
            body = resp.read(4096).decode("utf-8", "replace").strip()
        except (OSError, http.client.HTTPException) as exc:
            raise XosanError("upload of %s to %s%s failed: %s" % (path, self.url, handler, exc),
                             hint="Check that the pool master is reachable and has room on the SR")
        finally:
            conn.close()
        if resp.status != 200:
            raise XosanError("xapi refused the upload of %s to %s: HTTP %d %s%s" % (
                path, handler, resp.status, resp.reason, (": " + body.splitlines()[0]) if body else ""))

    def _http_connection(self, timeout, host=None):
        if self.url == "local" and host is None:
            return _UnixHTTPConnection(LOCAL_SOCKET, timeout)
        parts = urlsplit("https://" if self.url == "local" else self.url)
        hostname, port = (host, None) if host else (parts.hostname, parts.port)
        if parts.scheme == "https" and self.fingerprint and not host:
            return tls.PinnedHTTPSConnection(hostname, port or 443, fingerprint=self.fingerprint, timeout=timeout)
        if parts.scheme == "https":
            return http.client.HTTPSConnection(hostname, port or 443, timeout=timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(hostname, port or 80, timeout=timeout)

    def logout(self):
        try:
            self.api.session.logout()
        except Exception:
            pass


def _pin_hint(url):
    parts = urlsplit(url)
    try:
        seen = tls.pretty(tls.server_fingerprint(parts.hostname, parts.port or 443))
    except (OSError, ValueError):
        seen = None
    return ("XCP-ng and XenServer hosts use a self-signed certificate. On the master, run: openssl x509 -noout "
            "-fingerprint -sha256 -in /etc/xensource/xapi-ssl.pem; if it matches%s, pin it with "
            "pool.tls-fingerprint (or --tls-fingerprint)" % (" what this machine sees, %s" % seen if seen else ""))


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP to dom0's xapi over its unix socket. Not the SDK's UDSHTTPConnection: that one ignores
    the timeout, and an upload must not hang forever on a stuck xapi."""

    def __init__(self, path, timeout):
        http.client.HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)
