"""Rolling upgrade of a deployment's storage VMs: one node at a time, each gated like a host reboot.

Why one at a time and gated: upgrading a storage VM takes its glusterd and bricks down (a package
upgrade restarts them, a kernel needs a reboot). A replica set survives one member down only while
the others hold complete copies, so a node may go down only when ``xosan check-reboot`` would say
yes (``xosan.gluster.downtime``: nothing to heal, no split-brain, every brick and peer up, quorum
kept without it), and the next node only once this one is back *and* redundant again: its bricks
online, every client reconnected to them and the heal of what was written meanwhile finished (the
``healthy`` verdict of ``xosan.gluster.health``). The run stops at the first node that fails any of
that, and leaves the nodes after it untouched.

What is done to one node is a ``NodeStep``: ``AptUpgrade`` (packages from the node's own sources)
ships here; ``ImageUpgrade`` plans but refuses to run (its reason is in the class); a test injects
its own step (the lab's nodes share one root file system, so a real apt run cannot happen there).
"""

import json
import os
import re
import time

from xosan.errors import GlusterError, XosanError
from xosan.gluster import downtime, health
from xosan.pool import firewall
from xosan.pool.operate import Refused
from xosan.pool.progress import Progress

# How long a node may take to answer again after its step (a storage VM reboot included).
BACK_TIMEOUT = 600
# How long the volume may take to be healthy again after a node came back (heal of what changed).
HEAL_TIMEOUT = 1800
APT_TIMEOUT = 1800

UPGRADED, REFUSED, FAILED, UNTOUCHED = "upgraded", "refused", "failed", "untouched"

# Packages of GlusterFS itself: held back unless asked for (a server upgrade ahead of dom0's clients).
GLUSTER_PACKAGE = re.compile(r"^(glusterfs-|libgluster|libgfapi|libgfchangelog|libgfrpc|libgfxdr|python3-gluster)")
KERNEL_PACKAGE = re.compile(r"^linux-image-")
_INST = re.compile(r"^Inst (\S+) (?:\[(\S+)\] )?\((\S+)")


class UpgradeNode(object):
    """One storage VM of the deployment, as the steps see it."""

    def __init__(self, host, vm, record, address, target):
        self.host = host
        self.vm = vm
        self.record = record
        self.address = address
        self.target = target  # an SSHTarget (run/reachable)


def parse_apt_simulation(text):
    # type: (str) -> dict
    """{package: (installed version or None, new version)} from ``apt-get -s`` output ("Inst" lines)."""
    out = {}
    for line in text.splitlines():
        m = _INST.match(line.strip())
        if m:
            out[m.group(1).split(":")[0]] = (m.group(2), m.group(3))
    return out


def parse_dpkg_versions(text):
    # type: (str) -> dict
    """{package: version} from ``dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'``;
    only installed packages ("ii")."""
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0] and (len(parts) < 3 or parts[2].strip().startswith("ii")):
            out[parts[0].split(":")[0]] = parts[1]
    return out


def upstream_major(version):
    # type: (str) -> int
    """GlusterFS's major release from a Debian version ("10.3-5" -> 10, "1:11.1-1" -> 11)."""
    v = version.split(":", 1)[-1]
    m = re.match(r"(\d+)", v)
    if not m:
        raise ValueError("not a version: %r" % version)
    return int(m.group(1))


def summarize_versions(versions):
    """The versions an admin asks about first: GlusterFS's and the kernel's."""
    gl = versions.get("glusterfs-server") or versions.get("glusterfs-common")
    kernels = sorted(v for k, v in versions.items() if k == "linux-image-amd64") or sorted(
        k[len("linux-image-"):] for k in versions if KERNEL_PACKAGE.match(k))
    return {"glusterfs": gl, "kernel": kernels[-1] if kernels else None, "packages": len(versions)}


def gluster_changes(changes):
    return dict((k, v) for k, v in changes.items() if GLUSTER_PACKAGE.match(k))


def gluster_major_change(changes):
    """(old major, new major) when the simulated upgrade moves GlusterFS to another major release."""
    for _, (old, new) in sorted(gluster_changes(changes).items()):
        if old and upstream_major(old) != upstream_major(new):
            return upstream_major(old), upstream_major(new)
    return None


def restart_action(changes, reboot_required):
    # type: (dict, bool) -> str
    """What a node needs after its packages changed: "reboot" (a kernel, or the system says so in
    /var/run/reboot-required), "restart-gluster" (new GlusterFS binaries: glusterd and the brick
    processes still run the old ones), or "none"."""
    if reboot_required or any(KERNEL_PACKAGE.match(k) for k in changes):
        return "reboot"
    if gluster_changes(changes):
        return "restart-gluster"
    return "none"


def node_versions(target):
    res = target.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n"],
                     timeout=60, check=False)
    return parse_dpkg_versions(res.stdout) if res.returncode == 0 else {}


class NodeStep(object):
    """What is done to one storage VM; ``apply`` gets the Operations (XAPI, access) for a reboot."""
    method = "?"

    def blocker(self):
        """Why this method cannot run at all (None when it can): checked before any node is touched."""
        return None

    def current(self, node):
        """The node's versions, for the plan."""
        return summarize_versions(node_versions(node.target))

    def describe(self, node):
        raise NotImplementedError

    def prepare(self, node, p, ops):
        """What may run before the node's gate because it takes nothing down (a download): the gate
        is then asked right before the disruptive part, not minutes earlier."""

    def apply(self, node, p, ops):
        """Upgrade ``node``; return one sentence of what was done. Raise XosanError to stop the run."""
        raise NotImplementedError


def reboot_vm(node, p, ops):
    """A clean shutdown and start through XAPI, as maintenance does (a reboot from inside could come
    back before anyone saw it go down); then, like ``maintenance exit``, its packet filter again (a
    boot may have lost it) before the run waits for its glusterd."""
    host, _ = ops.inventory.host(node.host)
    p.info("%s: clean shutdown" % node.host)
    ops.vms.shutdown(node.vm)
    p.info("%s: start" % node.host)
    ops.vms.start(node.vm, host)
    ops.vms.wait_reachable(p, [(node.host, node.address)])
    firewall.enforce(p, ops.access, [node.address], ops.allow.wanted(ops.network.ensure(p)))


RESTART_GLUSTER = ("systemctl stop glusterd; "
                   # GlusterFS's upgrade guide: the brick and self-heal processes outlive glusterd's stop
                   "pkill -TERM -x glusterfsd; pkill -TERM -x glusterfs; "
                   "for i in $(seq 30); do pgrep -x glusterfsd >/dev/null || break; sleep 1; done; "
                   # not waited for here: the run's own wait (glusterd answering, then healthy) is bounded
                   "pkill -KILL -x glusterfsd; systemctl start --no-block glusterd")


class AptUpgrade(NodeStep):
    """``apt-get update`` then a non-interactive ``dist-upgrade`` from the node's own sources.

    GlusterFS's packages are held back unless ``gluster=True``: the dom0 FUSE clients of every host
    talk to these servers, and GlusterFS wants servers upgraded before clients within one major
    release. A *major* GlusterFS change is refused even then: after every server has it the cluster's
    ``cluster.op-version`` must be raised by hand, once every dom0 client is new enough, and a
    dispersed volume cannot be upgraded online at all (docs.gluster.org, generic upgrade procedure).
    """
    method = "apt"

    def __init__(self, gluster=False, timeout=APT_TIMEOUT):
        self.gluster = gluster
        self.timeout = timeout

    def describe(self, node):
        held = "GlusterFS packages included (same major release only)" if self.gluster else \
            "GlusterFS packages held back"
        return ["apt-get update (the node's own sources)",
                "apt-get -y dist-upgrade, --force-confold, %s" % held,
                "reboot the storage VM if a kernel changed or /var/run/reboot-required exists; else restart "
                "glusterd and its brick processes if GlusterFS changed"]

    def current(self, node):
        """Versions, and what the node's *current* package lists would upgrade (the dry run does not
        run apt-get update: it changes nothing on the node)."""
        v = NodeStep.current(self, node)
        try:
            changes = self.simulate(node.target)
        except XosanError as exc:
            v["upgradable"] = "unknown (%s)" % exc
            return v
        gl = gluster_changes(changes)
        v["upgradable"] = len(changes) - (0 if self.gluster else len(gl))
        v["gluster_upgradable"] = len(gl)
        v["after"] = restart_action(changes if self.gluster else dict(
            (k, c) for k, c in changes.items() if k not in gl), False)
        return v

    def simulate(self, target):
        res = target.run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"], timeout=300)
        return parse_apt_simulation(res.stdout)

    def prepare(self, node, p, ops):
        """apt-get update, what would change, the GlusterFS decision, and the download: all before
        the gate, none of it disturbs glusterd."""
        t = node.target
        p.info("%s: apt-get update" % node.host)
        t.run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "update"], timeout=self.timeout)
        changes = self.simulate(t)
        gl = gluster_changes(changes)
        major = gluster_major_change(changes)
        if self.gluster and major:
            raise Refused("%s: GlusterFS %d -> %d is a major upgrade" % (node.host, major[0], major[1]),
                          hint="A major upgrade needs every dom0 client upgraded too and cluster.op-version "
                               "raised afterwards (a dispersed volume: offline only); xosan does not do it. "
                               "Run without --gluster to upgrade the rest")
        hold = []
        if gl and not self.gluster:
            already = set(t.run(["apt-mark", "showhold"], timeout=60).stdout.split())
            hold = sorted(k for k in gl if k not in already)
            for k in gl:
                changes.pop(k)
        if changes:
            p.info("%s: %d package(s) to upgrade%s; downloading" % (
                node.host, len(changes), ", %d GlusterFS held back" % len(gl) if gl else ""))
            t.run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y", "-d", "dist-upgrade"],
                  timeout=self.timeout)
        self._prepared = (node.address, changes, gl, hold)

    def apply(self, node, p, ops):
        t = node.target
        if getattr(self, "_prepared", (None,))[0] != node.address:
            self.prepare(node, p, ops)
        _, changes, gl, hold = self._prepared
        self._prepared = None
        if not changes:
            return "nothing to upgrade" + (" (GlusterFS %d package(s) held back)" % len(gl) if gl else "")
        if hold:
            t.run(["apt-mark", "hold"] + hold, timeout=60)
        try:
            t.run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y",
                   "-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef",
                   "dist-upgrade"], timeout=self.timeout)
        finally:
            if hold:
                t.run(["apt-mark", "unhold"] + hold, timeout=60, check=False)
        reboot = t.run(["test", "-e", "/var/run/reboot-required"], timeout=30, check=False).returncode == 0
        action = restart_action(changes, reboot)
        if action == "reboot":
            reboot_vm(node, p, ops)
        elif action == "restart-gluster":
            p.info("%s: restart glusterd and its bricks" % node.host)
            t.run(["sh", "-c", RESTART_GLUSTER], timeout=300)
        return "%d package(s) upgraded, %s" % (len(changes), {"reboot": "rebooted",
                                                             "restart-gluster": "GlusterFS restarted",
                                                             "none": "no restart needed"}[action])


def read_image_manifest(path):
    """The manifest.json of an appliance image: ``path`` is the manifest itself or the VHD next to it."""
    mpath = path if path.endswith(".json") else os.path.join(os.path.dirname(os.path.abspath(path)),
                                                              "manifest.json")
    try:
        with open(mpath) as fh:
            m = json.load(fh)
    except (OSError, IOError, ValueError) as exc:
        raise XosanError("cannot read the image's manifest %s: %s" % (mpath, exc),
                         hint="The appliance build writes manifest.json next to the VHD (appliance/build.sh)")
    return m


# Why the image method does not run (ImageUpgrade.blocker); docs/upgrade.md says the same.
IMAGE_BLOCKER = (
    "replacing a storage VM's system disk would lose its GlusterFS identity: /var/lib/glusterd "
    "(glusterd.info with the node's UUID, the peers, the volume files, the saved packet filter) lives on the "
    "system disk, and the new image's first boot starts glusterd as soon as the brick is mounted, with a new "
    "UUID the trusted pool does not know. Carrying the state over needs the first-boot script to restore it "
    "before glusterd starts, which the appliance does not do yet. Use --method apt")


class ImageUpgrade(NodeStep):
    """A new appliance image per node, the brick disk kept. Planned (versions compared), never run:
    ``IMAGE_BLOCKER`` says why."""
    method = "image"

    def __init__(self, image_path):
        self.path = image_path
        self.manifest = read_image_manifest(image_path)
        self.packages = dict((p["name"], p["version"]) for p in self.manifest.get("packages", []))

    @property
    def version(self):
        return self.manifest.get("version")

    def blocker(self):
        return IMAGE_BLOCKER

    def describe(self, node):
        new = summarize_versions(self.packages)
        return ["replace the system disk with image %s (GlusterFS %s, kernel %s); keep the brick disk"
                % (self.version, new["glusterfs"], new["kernel"]),
                "boot it; it must re-join with the same GlusterFS identity"]

    def apply(self, node, p, ops):
        raise Refused("image upgrade refused: %s" % IMAGE_BLOCKER)


class NodeResult(object):
    def __init__(self, host, address, steps, versions=None):
        self.host = host
        self.address = address
        self.steps = steps
        self.versions = versions
        self.status = UNTOUCHED
        self.detail = None
        self.refusals = []
        self.before = None    # verdict when its turn came
        self.after = None     # verdict once it was back and healed
        self.seconds = None

    def as_dict(self):
        return {"host": self.host, "node": self.address, "status": self.status, "steps": self.steps,
                "versions": self.versions, "detail": self.detail,
                "refusals": [r.as_dict() for r in self.refusals], "verdict_before": self.before,
                "verdict_after": self.after, "seconds": self.seconds}


class UpgradeRun(object):
    def __init__(self, method, nodes, blocker=None, dry_run=True):
        self.method = method
        self.nodes = nodes
        self.blocker = blocker
        self.dry_run = dry_run
        self.stopped_at = None   # the NodeResult that stopped the run

    @property
    def ok(self):
        return self.blocker is None and self.stopped_at is None

    def as_dict(self):
        return {"method": self.method, "dry_run": self.dry_run, "ok": self.ok, "blocker": self.blocker,
                "stopped_at": self.stopped_at.host if self.stopped_at else None,
                "nodes": [n.as_dict() for n in self.nodes]}


class Upgrader(object):
    """``ops``: an Operations (inventory, cluster, access, vms); ``step``: a NodeStep."""

    def __init__(self, ops, step, out=None, back_timeout=BACK_TIMEOUT, heal_timeout=HEAL_TIMEOUT,
                 sleep=time.sleep, clock=time.time):
        self.ops = ops
        self.step = step
        self.out = out if out is not None else ops.out
        self.back_timeout = back_timeout
        self.heal_timeout = heal_timeout
        self.sleep = sleep
        self.clock = clock

    def nodes(self):
        """The storage VMs in the order they will go: by host name, so a re-run after a stop goes the
        same way and the admin can tell from the plan which node is next."""
        vms = self.ops.storage_vms()
        return [UpgradeNode(h, vm, rec, ip, self.ops.access.target(ip))
                for h, (vm, rec, ip) in sorted(vms.items())]

    def plan(self, versions=True):
        """The dry run: every node in order with its steps and versions, and whether the first one
        may go now. Changes nothing."""
        nodes = self.nodes()
        results = []
        for n in nodes:
            v = None
            if versions:
                try:
                    v = self.step.current(n)
                except XosanError as exc:
                    v = {"error": str(exc)}
            results.append(NodeResult(n.host, n.address, self.step.describe(n), v))
        run = UpgradeRun(self.step.method, results, self.step.blocker(), dry_run=True)
        if results:
            h, _ = self.ops.health()
            results[0].before = h.verdict
            results[0].refusals = downtime.refusals(h, [results[0].address], heal_source="no heal answer over SSH")
        return run

    def run(self):
        """Upgrade every node in turn; stop at the first refusal or failure (later nodes untouched)."""
        nodes = self.nodes()
        results = [NodeResult(n.host, n.address, self.step.describe(n)) for n in nodes]
        run = UpgradeRun(self.step.method, results, self.step.blocker(), dry_run=False)
        if run.blocker:
            return run
        p = Progress(len(nodes) * 3, self.out)
        for n, r in zip(nodes, results):
            t0 = self.clock()
            p.step("%s (%s): prepare, then may it go down?" % (n.host, n.address))
            try:
                self.step.prepare(n, p, self.ops)
            except Refused as exc:
                return self._stop(run, r, REFUSED, str(exc), p)
            except XosanError as exc:
                return self._stop(run, r, FAILED, "prepare: %s" % exc, p)
            try:
                h, _ = self.ops.health()
            except XosanError as exc:
                return self._stop(run, r, FAILED, "health unknown: %s" % exc, p)
            r.before = h.verdict
            r.refusals = downtime.refusals(h, [n.address], heal_source="no heal answer over SSH")
            if r.refusals:
                return self._stop(run, r, REFUSED, "; ".join(x.message for x in r.refusals), p)
            p.step("%s: %s upgrade" % (n.host, self.step.method))
            try:
                r.detail = self.step.apply(n, p, self.ops)
                p.info("%s: %s" % (n.host, r.detail))
                p.step("%s: wait until it is back and the volume healthy" % n.host)
                r.after = self.wait_back(n, p).verdict
            except XosanError as exc:
                r.seconds = round(self.clock() - t0, 1)
                return self._stop(run, r, FAILED, str(exc), p)
            r.status = UPGRADED
            r.seconds = round(self.clock() - t0, 1)
        return run

    def _stop(self, run, r, status, why, p):
        r.status = status
        r.detail = why
        run.stopped_at = r
        p.info("stopped at %s: %s; the nodes after it are untouched" % (r.host, why))
        return run

    def wait_back(self, node, p):
        """Until the node answers over SSH and its glusterd answers, then until the volume is healthy
        (its bricks online, every client reconnected, nothing to heal), each within its bound."""
        deadline = self.clock() + self.back_timeout
        while not node.target.reachable(timeout=10):
            if self.clock() > deadline:
                raise XosanError("%s (%s) not back over SSH after %d s" % (node.host, node.address,
                                                                           self.back_timeout))
            self.sleep(2)
        self.ops.cluster.wait_glusterd(p, [node.address])
        return self.wait_healthy(p)

    def wait_healthy(self, p):
        deadline = self.clock() + self.heal_timeout
        last = None
        while True:
            try:
                h, cli = self.ops.health()
                reason = h.reason
                if h.verdict != health.HEALTHY:
                    try:  # an index heal now; the self-heal daemon gets there on its own too
                        cli.heal(self.ops.cluster.volume)
                    except GlusterError:
                        pass
            except XosanError as exc:
                h, reason = None, "no answer: %s" % exc
            if reason != last:
                p.info(reason)
                last = reason
            if h is not None and h.verdict == health.HEALTHY:
                return h
            if self.clock() > deadline:
                raise XosanError("volume not healthy %d s after the node came back: %s" % (self.heal_timeout,
                                                                                          reason))
            self.sleep(3)
