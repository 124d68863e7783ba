"""Run drivers/XOSANSR.py the way xapi runs a SMAPIv1 driver.

xapi execs /opt/xensource/sm/XOSANSR with one argument, an XML-RPC method call
whose single struct carries the command's parameters, and reads an XML-RPC
response or fault from stdout. This does the same inside a lab dom0
(xosan_lab/dom0.py), where that path is the driver next to the REAL SM
framework and xapi is the simulator on dom0's unix socket.
"""

import ast
import os
import subprocess
import xmlrpc.client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, "drivers", "XOSANSR.py")
DOM0_DRIVER = "/opt/xensource/sm/XOSANSR"


class SMFault(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, "SM fault %s: %s" % (code, message))
        self.code = code
        self.message = message


class Driver(object):
    def __init__(self, dom0, session_ref=None, host_ref="OpaqueRef:host-1", env=None):
        self.dom0 = dom0
        self.env = dom0.env()
        self.env.update(env or {})
        self.session_ref = session_ref
        self.host_ref = host_ref

    def request(self, command, device_config, sr_uuid=None, sr_ref=None, vdi_uuid=None, vdi_ref=None,
                args=None, **extra):
        params = {"command": command, "device_config": dict(device_config), "args": list(args or []),
                  "host_ref": self.host_ref}
        if self.session_ref:
            params["session_ref"] = self.session_ref
        if sr_uuid is not None:
            params["sr_uuid"] = sr_uuid
        if sr_ref is not None:
            params["sr_ref"] = sr_ref
        if vdi_uuid is not None:
            params["vdi_uuid"] = vdi_uuid
            params["vdi_location"] = vdi_uuid
        if vdi_ref is not None:
            params["vdi_ref"] = vdi_ref
        params.update(extra)
        return xmlrpc.client.dumps((params,), command)

    def run_raw(self, request_xml, timeout=300):
        return subprocess.run(self.dom0.argv([DOM0_DRIVER, request_xml]), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=self.env, timeout=timeout, universal_newlines=True)

    def call(self, command, device_config, timeout=300, **kw):
        """Run one command; return the unmarshalled result or raise SMFault."""
        res = self.run_raw(self.request(command, device_config, **kw), timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError("driver exited %s\nstdout: %s\nstderr: %s" % (res.returncode, res.stdout, res.stderr))
        try:
            values, _ = xmlrpc.client.loads(res.stdout)
        except xmlrpc.client.Fault as f:
            raise SMFault(f.faultCode, f.faultString)
        except Exception:
            raise RuntimeError("driver printed no XML-RPC answer\nstdout: %s\nstderr: %s" % (res.stdout, res.stderr))
        return values[0]


def unwrap(response_xml):
    """The value of an XML-RPC response (e.g. what a generated config printed when run)."""
    values, _ = xmlrpc.client.loads(response_xml)
    return values[0]


def driver_capabilities(path=DRIVER):
    """The driver's CAPABILITIES, read from its source (what sr_get_driver_info answers; the
    driver tests check both agree), for the SM record xapi keeps: the framework asks it
    (util.sr_get_capability) whether the SR does CBT, e.g. in every vdi_delete."""
    with open(path) as fh:
        tree = ast.parse(fh.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["CAPABILITIES"]:
            return ast.literal_eval(node.value)
    raise ValueError("no CAPABILITIES list in %s" % path)


def sm_record(path=DRIVER):
    """The SM record xapi makes for the xosan driver at start (from sr_get_driver_info)."""
    return {"type": "xosan", "name_label": "XOSAN", "driver_filename": DOM0_DRIVER,
            "capabilities": driver_capabilities(path), "features": {}, "configuration": {}}
