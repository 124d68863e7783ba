"""A small XAPI simulator: XML-RPC on 127.0.0.1 that the real XenAPI SDK talks to.

It keeps objects as records in memory and answers the generic XAPI calls
(get_by_uuid, get_record, get_all, get_all_records, get_<field>, set_<field>,
add_to_<field>, remove_from_<field>) for the classes XOSAN uses, plus the few
special calls the SM framework makes (VDI.db_introduce / db_forget). Failures
come back as XAPI does: {"Status": "Failure", "ErrorDescription": [code, ...]}.
Only what the project uses is here; anything else answers MESSAGE_METHOD_UNKNOWN.

Next to XML-RPC it serves xapi's disk upload, ``PUT /import_raw_vdi?session_id=
&vdi=&format=vhd|raw[&task_id=]``, the way xapi's handler answers
(ocaml/xapi/import_raw_vdi.ml): 401 for a bad session, 404 for an unknown format,
411 without Content-Length (xapi's vhd-tool needs the stream size), 500 for a
VDI that is not there; otherwise 200 and the outcome in the task: the body is
stored as the VDI's content (a file in ``store_dir``) and a VHD that does not
parse or does not fit the VDI fails the task with VDI_IO_ERROR.
"""

import os
import re
import tempfile
import threading
import uuid as uuidlib
from socketserver import ThreadingMixIn, UnixStreamServer
from urllib.parse import parse_qs, urlsplit
from xmlrpc.server import SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

CLASSES = ("session", "pool", "host", "host_metrics", "network", "PIF", "VLAN", "VIF", "VM", "VBD", "VDI", "SR",
           "PBD", "SM", "task", "message")

VDI_INTRODUCE_FIELDS = ("uuid", "name_label", "name_description", "SR", "type", "sharable", "read_only",
                        "other_config", "location", "xenstore_data", "sm_config", "managed",
                        "virtual_size", "physical_utilisation", "metadata_of_pool", "is_a_snapshot",
                        "snapshot_time", "snapshot_of", "cbt_enabled")


def where(expr):
    """xapi's query language as get_all_records_where takes it: ``field "F" = "V"``, ``!=``,
    ``and``, ``or``, ``not``, parentheses, ``true`` / ``false``. Returns a test on a record."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|!=|=|\(|\)|[A-Za-z_]+', expr)
    pos = [0]

    def peek():
        return tokens[pos[0]] if pos[0] < len(tokens) else None

    def take(expected=None):
        tok = peek()
        if tok is None or (expected is not None and tok.lower() != expected):
            raise XapiFailure("SYNTAX_ERROR", "cannot parse %r" % expr)
        pos[0] += 1
        return tok

    def atom():
        tok = take()
        low = tok.lower()
        if tok == "(":
            inner = disjunction()
            take(")")
            return inner
        if low == "not":
            inner = atom()
            return lambda rec: not inner(rec)
        if low in ("true", "false"):
            return lambda rec: low == "true"
        if low == "field":
            name = take().strip('"')
            op = take()
            value = take().strip('"')
            if op == "=":
                return lambda rec: _as_text(rec.get(name)) == value
            if op == "!=":
                return lambda rec: _as_text(rec.get(name)) != value
        raise XapiFailure("SYNTAX_ERROR", "cannot parse %r" % expr)

    def conjunction():
        left = atom()
        while peek() is not None and peek().lower() == "and":
            take()
            right, first = atom(), left
            left = (lambda a, b: lambda rec: a(rec) and b(rec))(first, right)
        return left

    def disjunction():
        left = conjunction()
        while peek() is not None and peek().lower() == "or":
            take()
            right, first = conjunction(), left
            left = (lambda a, b: lambda rec: a(rec) or b(rec))(first, right)
        return left

    test = disjunction()
    if peek() is not None:
        raise XapiFailure("SYNTAX_ERROR", "cannot parse %r" % expr)
    return test


def _as_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


VDI_DEFAULTS = {"on_boot": "persist", "allow_caching": False, "tags": [], "VBDs": [], "crash_dumps": [],
                "current_operations": {}, "allowed_operations": [], "storage_lock": False, "missing": False,
                "parent": "OpaqueRef:NULL", "snapshots": [], "is_tools_iso": False, "metadata_latest": False}


class XapiFailure(Exception):
    def __init__(self, *description):
        Exception.__init__(self, description[0])
        self.description = [str(d) for d in description]


class XapiSim(object):
    """The object database and call dispatch, independent of the transport."""

    def __init__(self, username="root", password="xosan", store_dir=None):
        self.username = username
        self.password = password
        self.lock = threading.RLock()
        self.db = dict((cls, {}) for cls in CLASSES)
        self.sessions = {}
        self.calls = []  # (method, args) for tests that check what was asked
        self.store_dir = store_dir  # made on the first upload when None
        self.content = {}  # VDI uuid -> file holding what was uploaded into it
        # Set to an address: this xapi is a pool member, not the master. As xapi there, every
        # login_with_password fails with HOST_IS_SLAVE and the master's address.
        self.master_address = None

    # -- records ---------------------------------------------------------------------------

    def add(self, cls, record):
        """Insert a record (a uuid is made if absent); return its ref."""
        with self.lock:
            ref = "OpaqueRef:%s" % uuidlib.uuid4()
            rec = dict(record)
            rec.setdefault("uuid", str(uuidlib.uuid4()))
            self.db[cls][ref] = rec
            return ref

    def record(self, cls, ref):
        try:
            return self.db[cls][ref]
        except KeyError:
            raise XapiFailure("HANDLE_INVALID", cls, ref)

    def find(self, cls, **match):
        with self.lock:
            return [(ref, rec) for ref, rec in self.db[cls].items()
                    if all(rec.get(k) == v for k, v in match.items())]

    # -- dispatch ------------------------------------------------------------------------------

    def call(self, method, params, local=False):
        """One XML-RPC call. Generic calls run under the lock; special ones take it themselves,
        since some (SR.create, PBD.plug) run the SM driver, which calls back into this server."""
        self.calls.append((method, params))
        try:
            return {"Status": "Success", "Value": self._call(method, list(params), local)}
        except XapiFailure as exc:
            return {"Status": "Failure", "ErrorDescription": exc.description}

    def _new_session(self, user):
        ref = "OpaqueRef:%s" % uuidlib.uuid4()
        self.sessions[ref] = user
        return ref

    def _call(self, method, params, local=False):
        if method.startswith("Async."):
            return self._async(method[len("Async."):], params)
        if method == "session.login_with_password" and self.master_address:
            raise XapiFailure("HOST_IS_SLAVE", self.master_address)
        if method == "session.login_with_password" and local and params and params[0] == "root":
            return self._new_session("root")  # xapi trusts root on its unix socket, password or not
        if method == "session.login_with_password":
            if len(params) < 2 or params[0] != self.username or params[1] != self.password:
                raise XapiFailure("SESSION_AUTHENTICATION_FAILED", params[0] if params else "",
                                  "Authentication failure")
            return self._new_session(params[0])
        if "." not in method:
            raise XapiFailure("MESSAGE_METHOD_UNKNOWN", method)
        cls, op = method.split(".", 1)
        if cls not in self.db:
            raise XapiFailure("MESSAGE_METHOD_UNKNOWN", method)
        if not params or params[0] not in self.sessions:
            raise XapiFailure("SESSION_INVALID", params[0] if params else "")
        args = params[1:]
        special = getattr(self, "_%s_%s" % (cls, op), None)
        if special is not None:
            return special(*args)
        with self.lock:
            return self._generic(cls, op, method, args)

    def _async(self, method, params):
        """Run the call now and hand back a finished task, as a fast xapi would."""
        result = self.call(method, params)
        rec = {"name_label": "Async." + method, "status": "success", "progress": 1.0, "result": "",
               "error_info": [], "other_config": {}}
        if result["Status"] == "Success":
            value = result["Value"]
            rec["result"] = "<value>%s</value>" % value if value not in (None, "") else ""
        else:
            rec["status"] = "failure"
            rec["error_info"] = result["ErrorDescription"]
        return self.add("task", rec)

    def _generic(self, cls, op, method, args):
        table = self.db[cls]
        if op == "get_all":
            return list(table.keys())
        if op == "get_all_records":
            return dict((ref, dict(rec)) for ref, rec in table.items())
        if op == "get_all_records_where":
            test = where(args[0])
            return dict((ref, dict(rec)) for ref, rec in table.items() if test(rec))
        if op == "get_by_uuid":
            for ref, rec in table.items():
                if rec.get("uuid") == args[0]:
                    return ref
            raise XapiFailure("UUID_INVALID", cls, args[0])
        if op == "get_by_name_label":
            return [ref for ref, rec in table.items() if rec.get("name_label") == args[0]]
        if op == "get_record":
            return dict(self.record(cls, args[0]))
        for prefix in ("get_", "set_", "add_to_", "remove_from_", "add_", "remove_"):
            if op.startswith(prefix):
                field = op[len(prefix):]
                rec = self.record(cls, args[0])
                if prefix == "get_":
                    if field not in rec:
                        raise XapiFailure("MESSAGE_METHOD_UNKNOWN", method)
                    return rec[field]
                if prefix == "set_":
                    rec[field] = args[1]
                    return ""
                if prefix == "add_to_":
                    current = rec.setdefault(field, {})
                    if args[1] in current:
                        raise XapiFailure("MAP_DUPLICATE_KEY", cls, field, args[0], args[1])
                    current[args[1]] = args[2]
                    return ""
                if prefix == "remove_from_":
                    rec.setdefault(field, {}).pop(args[1], None)
                    return ""
                if prefix == "add_":  # set-valued fields: VM.add_tags(vm, tag) adds one tag
                    values = rec.setdefault(field, [])
                    if args[1] not in values:
                        values.append(args[1])
                    return ""
                if prefix == "remove_":
                    values = rec.setdefault(field, [])
                    if args[1] in values:
                        values.remove(args[1])
                    return ""
        raise XapiFailure("MESSAGE_METHOD_UNKNOWN", method)

    # -- HTTP: the disk upload ------------------------------------------------------------------------

    def import_raw_vdi(self, query, body, length):
        """``PUT /import_raw_vdi``: (HTTP status, text). ``body`` is a file to read ``length`` bytes from."""
        from xosan.pool import vhd
        self.calls.append(("PUT /import_raw_vdi", dict(query)))
        session, vdi, fmt, task = (query.get(k) for k in ("session_id", "vdi", "format", "task_id"))
        if task and task not in self.db["task"]:
            return 404, "no task %s" % task
        if session not in self.sessions:
            if task:
                self._finish_task(task, "failure", error=["SESSION_AUTHENTICATION_FAILED"])
            return 401, "Unauthorised"
        if (fmt or "raw").lower() not in ("raw", "vhd"):
            return 404, "Unknown format %s" % fmt
        if vdi not in self.db["VDI"]:
            return 500, "Internal error: no VDI %s" % vdi
        try:
            rec = self.db["VDI"][vdi]
            if self.store_dir is None:
                self.store_dir = tempfile.mkdtemp(prefix="xapi-sim-vdis-")
            os.makedirs(self.store_dir, exist_ok=True)
            path = os.path.join(self.store_dir, "%s.%s" % (rec["uuid"], fmt))
            tmp = path + ".part"
            with open(tmp, "wb") as out:
                left = length
                while left > 0:
                    chunk = body.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    out.write(chunk)
                    left -= len(chunk)
            if left:
                os.unlink(tmp)
                raise XapiFailure("INTERNAL_ERROR", "upload ended after %d of %d bytes" % (length - left, length))
            size = length
            if fmt == "vhd":
                try:
                    size = vhd.read_info(tmp).virtual_size
                except vhd.VhdError as exc:
                    os.unlink(tmp)
                    raise XapiFailure("VDI_IO_ERROR", "not a valid VHD: %s" % exc.message)
            if size > int(rec["virtual_size"]):  # xapi does not check: a write past the end fails
                os.unlink(tmp)
                raise XapiFailure("VDI_IO_ERROR", "Device I/O errors")
            os.rename(tmp, path)
            with self.lock:
                self.content[rec["uuid"]] = path
        except XapiFailure as exc:
            if task:
                self._finish_task(task, "failure", error=exc.description)
            return 200, ""  # xapi has sent its 200 before it reads the body
        if task:
            self._finish_task(task, "success", result="<value>%s</value>" % vdi)
        return 200, ""

    def _finish_task(self, task, status, error=(), result=""):
        with self.lock:
            self.db["task"][task].update({"status": status, "progress": 1.0, "error_info": list(error),
                                          "result": result})

    def _task_create(self, label, description=""):
        return self.add("task", {"name_label": label, "name_description": description, "status": "pending",
                                 "progress": 0.0, "result": "", "error_info": [], "other_config": {}})

    # -- special calls the SM framework makes -------------------------------------------------------

    def _task_destroy(self, task):
        with self.lock:
            self.record("task", task)
            del self.db["task"][task]
        return ""

    def _VDI_db_introduce(self, *args):
        rec = dict(zip(VDI_INTRODUCE_FIELDS, args))
        for key in ("sharable", "read_only", "managed", "is_a_snapshot", "cbt_enabled"):
            rec[key] = bool(rec.get(key))
        rec["snapshot_time"] = str(rec.get("snapshot_time"))
        # the fields db_introduce does not take get xapi's defaults (the framework's GC reads them)
        for key, value in VDI_DEFAULTS.items():
            rec.setdefault(key, type(value)(value))
        rec.setdefault("name_label", "")
        self.record("SR", rec["SR"])
        for other in self.db["VDI"].values():
            if other.get("uuid") == rec["uuid"]:
                raise XapiFailure("UUID_INVALID", "VDI", rec["uuid"])
        with self.lock:
            ref = "OpaqueRef:%s" % uuidlib.uuid4()
            self.db["VDI"][ref] = rec
        return ref

    def _VDI_db_forget(self, ref):
        with self.lock:
            self.record("VDI", ref)
            del self.db["VDI"][ref]
        return ""

    def _message_create(self, name, priority, cls, obj_uuid, body):
        """message.create: what XenCenter and Xen Orchestra show as alerts."""
        import time
        return self.add("message", {"name": name, "priority": str(priority), "cls": cls, "obj_uuid": obj_uuid,
                                    "body": body, "timestamp": time.strftime("%Y%m%dT%H:%M:%SZ", time.gmtime())})

    def _message_destroy(self, ref):
        with self.lock:
            self.record("message", ref)
            del self.db["message"][ref]
        return ""

    def _session_logout(self):
        return ""

    def _VM_start_on(self, vm, host, start_paused=False, force=False):
        """As xapi: only a halted VM that is not a template starts (a VM with nothing behind
        it here: it just goes Running; the lab's pools start a storage node, pool_sim.py)."""
        with self.lock:
            rec = self.record("VM", vm)
            self.record("host", host)
            if rec.get("is_a_template"):
                raise XapiFailure("VM_IS_TEMPLATE", vm)
            if rec.get("power_state") != "Halted":
                raise XapiFailure("VM_BAD_POWER_STATE", vm, "halted", str(rec.get("power_state")).lower())
            rec["power_state"] = "Paused" if start_paused else "Running"
            rec["resident_on"] = host
        return ""


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/", "/RPC2")

    def log_message(self, fmt, *args):
        pass

    def do_PUT(self):
        parts = urlsplit(self.path)
        query = dict((k, v[0]) for k, v in parse_qs(parts.query).items())
        if parts.path != "/import_raw_vdi":
            status, text = 404, "no handler for %s" % parts.path
        elif "Content-Length" not in self.headers:
            status, text = 411, "Content-Length required"
        else:
            status, text = self.server.sim.import_raw_vdi(query, self.rfile, int(self.headers["Content-Length"]))
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True


class _Server(ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True


class XapiSimServer(object):
    """Serve a XapiSim on 127.0.0.1 in a background thread."""

    def __init__(self, sim=None, port=0, address="127.0.0.1", tls=None):
        """``tls``: (certificate file, key file) to serve HTTPS, as a real master does."""
        self.sim = sim or XapiSim()
        self.server = _Server((address, port), requestHandler=_Handler, allow_none=True,
                              logRequests=False)
        self.scheme = "http"
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.server.register_instance(_Dispatcher(self.sim))
        self.server.sim = self.sim
        self.thread = None

    @property
    def url(self):
        return "%s://%s:%d/" % ((self.scheme,) + tuple(self.server.server_address[:2]))

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, name="xapi-sim", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _Dispatcher(object):
    def __init__(self, sim, local=False):
        self.sim = sim
        self.local = local

    def _dispatch(self, method, params):
        return self.sim.call(method, params, self.local)


class _UnixServer(ThreadingMixIn, UnixStreamServer, SimpleXMLRPCDispatcher):
    daemon_threads = True
    logRequests = False

    def __init__(self, path):
        SimpleXMLRPCDispatcher.__init__(self, allow_none=True)
        UnixStreamServer.__init__(self, path, _UnixHandler)


class _UnixHandler(_Handler):
    disable_nagle_algorithm = False  # TCP_NODELAY: not on a unix socket

    def address_string(self):
        return "local"

    def setup(self):
        self.client_address = ("local", 0)  # http.server logs and checks it as a tuple
        _Handler.setup(self)


class XapiSimUnixServer(object):
    """Serve a XapiSim at a unix socket, as xapi serves dom0 at /var/lib/xcp/xapi: root logs in
    there without a password (how the SM framework's GC and util.get_localAPI_session log in)."""

    def __init__(self, sim, path):
        self.sim = sim
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self.server = _UnixServer(path)
        self.server.register_instance(_Dispatcher(sim, local=True))
        self.server.sim = sim
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, name="xapi-sim-unix", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        if os.path.exists(self.path):
            os.unlink(self.path)
