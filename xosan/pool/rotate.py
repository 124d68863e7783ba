"""Certificate rotation (``xosan rotate-certs``): a new key and leaf for every machine, same CA, no I/O stop.

Keeping the CA is what makes it safe live: every machine's CA list already accepts the new leaves,
so a machine that has its new certificate and one that still has its old one keep talking while
the files are handed out one machine at a time. The volume is never stopped and no brick is
restarted: a brick restart is a replica down (a heal, and with two down a stall). glusterd is the
one process restarted, and only where a fresh connection to it still shows the old certificate
(measured per node after the files are in place, docs/security-tls.md "Rotation"): it holds no
data path, and its unit leaves the bricks running.

The plan is read from what exists: the machines (storage VMs and the witness from the inventory and
the manifest, dom0s from the hosts whose certificate the CA signed) and whether management and I/O
TLS are on (a node's switch file, the volume's options), not from the manifest's ``tls``.
"""

import datetime
import os

from xosan import facts
from xosan.errors import XosanError
from xosan.gluster import tls
from xosan.pool import certs
from xosan.pool.progress import Progress


DONE, FAILED, PENDING = "renewed", "failed", "planned"


class Machine(object):
    """One certificate holder: ``kind`` node / witness / dom0, ``address`` (SSH) or ``ref`` (host)."""

    def __init__(self, kind, host, cn, address=None, ref=None):
        self.kind, self.host, self.cn, self.address, self.ref = kind, host, cn, address, ref
        self.serial = self.not_after = None
        self.new_serial = self.new_not_after = None
        self.installed_serial = None  # read back from the machine (nodes), after the install
        self.glusterd = None  # nodes with management TLS: "re-read", "restarted", or why not known
        self.status, self.detail = PENDING, ""

    def as_dict(self):
        return dict((k, getattr(self, k)) for k in (
            "kind", "host", "cn", "address", "serial", "not_after", "new_serial", "new_not_after",
            "installed_serial", "glusterd", "status", "detail"))


class Rotation(object):
    def __init__(self, deployment_id):
        self.id = deployment_id
        self.management = self.io = None
        self.machines = []
        self.unknown = []  # CNs the CA signed whose machine is gone (replaced hosts): left alone
        self.error = None
        self.done = False
        self.new_not_after = None  # what a leaf made now gets (the plan's "new expiry")

    @property
    def ok(self):
        return self.error is None and all(m.status == DONE for m in self.machines)

    def as_dict(self):
        return {"deployment": self.id, "management": self.management, "io": self.io, "ok": self.ok,
                "done": self.done, "error": self.error, "new_not_after": self.new_not_after, "unknown": self.unknown,
                "machines": [m.as_dict() for m in self.machines]}


def _iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def presented_serial(target, address, folder, port=facts.GLUSTERD_PORT):
    # type: (object, str, str, int) -> str
    """The serial of the certificate a NEW TLS connection to ``address:port`` is shown, asked on the
    node itself with its own files as the client certificate (glusterd demands one). Raises
    XosanError when no handshake happens."""
    out = target.run(["sh", "-c", certs.s_client_command(address, port, folder) + " | openssl x509 -noout -serial"],
                     timeout=60)
    return certs.parse_serial(out.stdout)


def installed_serial(target, folder):
    # type: (object, str) -> str
    out = target.run(["openssl", "x509", "-noout", "-serial", "-in", tls.file_paths(folder)["cert"]], timeout=60)
    return certs.parse_serial(out.stdout)


class Rotator(object):
    """``deployment``: a Deployment (its XAPI session, inventory, SSH access, cluster, manifest's witness)."""

    def __init__(self, deployment, out=None):
        self.d = deployment
        self.id = deployment.id
        self.ca = certs.of_deployment(deployment.access)
        self.out = deployment.out if out is None else out

    # -- the plan ---------------------------------------------------------------------------------

    def machines(self):
        ca = self.ca
        if not os.path.exists(ca.ca_cert) or not os.path.exists(ca.ca_key):
            raise certs.CertError(
                "deployment %s has no CA in %s: nothing to rotate" % (self.id, ca.dir),
                hint="Give the --state-dir deploy used (the folder holding %s/tls); a deployment made with "
                     "tls: off has no certificates" % self.id)
        signed = set(ca.names())
        found = []
        for host, (_, _rec, address) in sorted(self.d.inventory.storage_vms().items()):
            found.append(Machine("node", host, ca.name_for("node", host), address=address))
        if self.d.m.witness:
            found.append(Machine("witness", "witness", ca.name_for("witness", "witness"), address=self.d.m.witness))
        hosts = self.d.x.call(self.d.x.api.host.get_all_records)
        for ref, rec in sorted(hosts.items(), key=lambda kv: kv[1]["name_label"]):
            cn = ca.name_for("dom0", rec["name_label"])
            if cn in signed:
                found.append(Machine("dom0", rec["name_label"], cn, ref=ref))
        return found, sorted(signed - set(m.cn for m in found))

    def plan(self):
        # type: () -> Rotation
        """What --yes would do, read from the pool and the state dir; changes nothing."""
        r = Rotation(self.id)
        r.machines, r.unknown = self.machines()
        for m in r.machines:
            ident = self.ca.identity(m.cn)
            if os.path.exists(ident.cert):
                m.serial, m.not_after = certs.serial_of(ident.cert), _iso(tls.not_after(ident.cert))
            else:
                m.detail = "no certificate yet: one is made"
        cli = self.d.cluster.any_cli()
        r.management = certs.management_on(self.d.access.target(cli.where()))
        [info] = cli.volume_info(self.id)
        r.io = tls.io_on(info.options or {})
        r.new_not_after = _iso(datetime.datetime.utcnow() + datetime.timedelta(days=certs.LEAF_DAYS))
        return r

    # -- the run ----------------------------------------------------------------------------------

    def run(self):
        # type: () -> Rotation
        """Each machine in turn: renew in the state dir, install, read back; a node whose glusterd still
        shows the old certificate to a new connection gets glusterd restarted (and waited for) before
        the next machine. Stops at the first failure, saying which; the machines after it keep their
        old certificates, which stay valid (same CA): a re-run completes it."""
        r = self.plan()
        nodes = [m for m in r.machines if m.kind != "dom0"]
        dom0s = [m for m in r.machines if m.kind == "dom0"]
        p = Progress(3, self.out)
        p.step("new certificates for %d storage VM(s)/witness (management TLS %s, I/O TLS %s)"
               % (len(nodes), "on" if r.management else "off", "on" if r.io else "off"))
        folder = tls.cert_dir(self.id)
        peers = [m.address for m in nodes]
        try:
            for m in nodes:
                self._node(p, r, m, folder, peers)
            p.step("new certificates for %d dom0(s), through the host plugin" % len(dom0s))
            for m in dom0s:
                self._renew(m)
                report = certs.install_on_dom0(self.d.x.api, m.ref, self.id, self.ca.identity(m.cn), r.management)
                m.status = DONE
                p.info("%s on the dom0 of %s: serial %s -> %s, expires %s" % (
                    m.cn, m.host, m.serial, m.new_serial, report.get("not_after") or m.new_not_after))
        except XosanError as exc:
            failed = [m for m in r.machines if m.status == PENDING]
            if failed:
                failed[0].status, failed[0].detail = FAILED, str(exc)
            r.error = "%s: %s" % (failed[0].cn if failed else self.id, exc)
            return r
        p.step("done: the volume was never stopped, no brick restarted")
        r.done = True
        return r

    def _renew(self, m):
        ident = self.ca.renew_identity(m.cn)
        m.new_serial, m.new_not_after = certs.serial_of(ident.cert), _iso(tls.not_after(ident.cert))
        return ident

    def _node(self, p, r, m, folder, peers):
        target = self.d.access.target(m.address)
        ident = self._renew(m)
        certs.push_to_node(target, ident, folder, r.management)
        m.installed_serial = installed_serial(target, folder)
        if m.installed_serial != m.new_serial:
            raise certs.CertError("%s holds serial %s after the install, not %s" % (m.address, m.installed_serial,
                                                                                    m.new_serial))
        p.info("%s on %s: serial %s -> %s, expires %s" % (m.cn, m.address, m.serial, m.new_serial, m.new_not_after))
        if r.management:
            self._glusterd_takes_it(p, m, target, folder, peers)
        m.status = DONE

    def _glusterd_takes_it(self, p, m, target, folder, peers):
        """GlusterFS 10.3's glusterd loads its certificate per new connection (measured:
        docs/security-tls.md "Rotation"), so a new connection normally shows the new one at once; a
        version that loads it only at start is restarted here, one node at a time, the next only once
        this one's ``peers`` are back."""
        try:
            shown = presented_serial(target, m.address, folder)
        except XosanError as exc:
            shown, m.glusterd = None, "not asked: %s" % exc
        if shown == m.new_serial:
            m.glusterd = "re-read"
            p.info("glusterd on %s shows the new certificate to new connections" % m.address)
            return
        certs.restart_glusterd(p, self.d.access, [m.address])
        self.d.cluster.wait_glusterd(p, [m.address])
        self.d.cluster.wait_peers(p, self.d.access.clis(peers))
        shown = presented_serial(target, m.address, folder)
        if shown != m.new_serial:
            raise certs.CertError("glusterd on %s still shows serial %s after its restart, not %s"
                                  % (m.address, shown, m.new_serial))
        m.glusterd = "restarted"
