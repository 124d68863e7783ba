"""A one-host pool to run the driver on the real SM framework: the XAPI records the framework
reads (host with its metrics, pool, SR and PBD as xapi makes them before sr_create), the XAPI
simulator on the host's unix socket, and the host's lab dom0 (xosan_lab/dom0.py). The contract
suite and `make bench` use it; the lab's pools (pool_sim.LabXapi) are the many-host version."""

import os
import uuid as uuidlib

from xosan_lab.dom0 import Dom0
from xosan_lab.smrunner import Driver, sm_record
from xosan_lab.xapi_sim import XapiSim, XapiSimUnixServer


class OneHost(object):
    def __init__(self, workdir, name="lab-host", sm_dir=None):
        self.sim = XapiSim()
        self.host_uuid = str(uuidlib.uuid4())
        metrics = self.sim.add("host_metrics", {"live": True, "memory_total": str(8 << 30)})
        self.host = self.sim.add("host", {"uuid": self.host_uuid, "name_label": name, "address": "127.0.0.1",
                                          "enabled": True, "PBDs": [], "other_config": {}, "resident_VMs": [],
                                          "metrics": metrics})
        self.sim.add("pool", {"name_label": name, "master": self.host, "other_config": {}, "ha_enabled": False})
        self.sim.add("SM", sm_record())  # the framework reads the driver's capabilities there
        self.session = self.sim.call("session.login_with_password", ["root", "xosan", "1.0", name])["Value"]
        os.makedirs(workdir, exist_ok=True)
        self.server = XapiSimUnixServer(self.sim, os.path.join(workdir, "xapi.sock")).start()
        try:
            self.dom0 = Dom0(os.path.join(workdir, "dom0"), self.host_uuid, self.server.path, sm_dir=sm_dir,
                             name=name).up()
        except Exception:
            self.server.stop()
            raise
        self.driver = Driver(self.dom0, session_ref=self.session, host_ref=self.host)

    def add_sr(self, dconf, label="XOSAN"):
        """The SR and PBD records xapi makes before it calls sr_create: (uuid, SR ref, PBD ref)."""
        sr_uuid = str(uuidlib.uuid4())
        sr = self.sim.add("SR", {"uuid": sr_uuid, "type": "xosan", "shared": True, "sm_config": {},
                                 "other_config": {}, "virtual_allocation": "0", "physical_size": "0",
                                 "physical_utilisation": "0", "name_label": label, "name_description": "",
                                 "VDIs": [], "PBDs": [], "content_type": "user", "tags": []})
        pbd = self.sim.add("PBD", {"host": self.host, "SR": sr, "device_config": dict(dconf),
                                   "currently_attached": False, "other_config": {}})
        self.sim.db["SR"][sr]["PBDs"].append(pbd)
        return sr_uuid, sr, pbd

    def down(self):
        self.dom0.down()
        self.server.stop()
