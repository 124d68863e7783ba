"""`xosan upgrade` without a lab: the gate before each node, the stop at the first refusal or failure
(the rest untouched), the bounded wait for health, the apt step's decisions, the image refusal.
Health comes from captured glusterd XML (test_health.FakeCLI): the parsing and the rule are real."""

import io
import json

import pytest
from test_health import FakeCLI
from test_plugin import N1, N2, N3

from xosan.cli import main as cli_main
from xosan.cli import upgrade as cli_upgrade
from xosan.errors import CommandFailed, XosanError
from xosan.gluster import downtime
from xosan.gluster import health as gh
from xosan.pool import upgrade
from xosan.pool.operate import Refused
from xosan.pool.upgrade import FAILED, REFUSED, UNTOUCHED, UPGRADED


def healthy():
    return gh.collect(FakeCLI(), "xosan")


def node_down():
    return gh.collect(FakeCLI(status="volume-status-node-down.xml", pool="pool-list-node-down.xml",
                              heal="heal-info-node-down.xml", split="heal-info-node-down.xml"), "xosan")


def pending(on=N2, entries=5):
    h = healthy()
    bricks = [gh.BrickHealth(b.brick, b.online, b.size_total, b.size_free, entries if b.host == on else 0, 0)
              for b in h.bricks]
    return gh.assess(h.info, h.peers, bricks)


class Result(object):
    def __init__(self, returncode=0, stdout="", stderr=""):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


class Target(object):
    def __init__(self, address, answers=None, reachable=True):
        self.address = address
        self.answers = answers or {}   # first word(s) of a command -> Result or callable
        self.ran = []
        self.up = reachable

    def run(self, argv, timeout=60, check=True):
        self.ran.append(list(argv))
        key = " ".join(a for a in argv if not a.startswith("DEBIAN_FRONTEND") and a != "env")
        for prefix, res in sorted(self.answers.items(), key=lambda kv: -len(kv[0])):
            if key.startswith(prefix):
                res = res() if callable(res) else res
                if check and res.returncode:
                    raise CommandFailed(argv, res.returncode, res.stdout, res.stderr)
                return res
        return Result()

    def reachable(self, timeout=10):
        return self.up


class HealCLI(object):
    def __init__(self):
        self.heals = 0

    def heal(self, volume):
        self.heals += 1


class Cluster(object):
    volume = "xosan"

    def __init__(self):
        self.glusterd_waits = []

    def wait_glusterd(self, p, addresses):
        self.glusterd_waits.append(list(addresses))


class Access(object):
    def __init__(self, targets):
        self.targets = targets

    def target(self, ip):
        return self.targets[ip]


class Ops(object):
    """What Upgrader uses of an Operations; ``verdicts``: VolumeHealth answers in turn (the last repeats)."""

    def __init__(self, verdicts, targets=None):
        self.verdicts = list(verdicts)
        self.asked = 0
        self.cli = HealCLI()
        self.cluster = Cluster()
        self.targets = targets or dict((ip, Target(ip)) for ip in (N1, N2, N3))
        self.access = Access(self.targets)
        self.vms = None
        self.out = io.StringIO()

    def storage_vms(self):
        # deliberately not in host order: the run goes by host name
        return {"lab-host-3": ("vm3", {}, N3), "lab-host-1": ("vm1", {}, N1), "lab-host-2": ("vm2", {}, N2)}

    def health(self):
        h = self.verdicts[min(self.asked, len(self.verdicts) - 1)]
        self.asked += 1
        if isinstance(h, Exception):
            raise h
        return h, self.cli


class Step(upgrade.NodeStep):
    method = "test"

    def __init__(self, fail_on=None):
        self.calls = []
        self.fail_on = fail_on

    def describe(self, node):
        return ["do the thing"]

    def apply(self, node, p, ops):
        self.calls.append(node.host)
        if node.host == self.fail_on:
            raise XosanError("dpkg broke on %s" % node.host)
        return "done"


class Clock(object):
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def upgrader(ops, step, **kw):
    c = Clock()
    return upgrade.Upgrader(ops, step, sleep=c.sleep, clock=c, **kw)


def test_every_node_in_host_order_each_gated_and_waited_for():
    ops = Ops([healthy()])
    step = Step()
    run = upgrader(ops, step).run()
    assert run.ok and [n.status for n in run.nodes] == [UPGRADED] * 3
    assert step.calls == ["lab-host-1", "lab-host-2", "lab-host-3"]
    assert ops.cluster.glusterd_waits == [[N1], [N2], [N3]]
    # per node: one look before (the gate), one after (healthy): never two nodes without a look between
    assert ops.asked == 6
    assert all(n.before == gh.HEALTHY and n.after == gh.HEALTHY for n in run.nodes)
    out = ops.out.getvalue()
    assert "[1/9] lab-host-1 (%s): prepare, then may it go down?" % N1 in out and "[9/9] lab-host-3" in out


def test_a_pending_heal_refuses_the_first_node_and_touches_nothing():
    ops = Ops([pending()])
    step = Step()
    run = upgrader(ops, step).run()
    assert not run.ok and run.stopped_at.host == "lab-host-1"
    assert [n.status for n in run.nodes] == [REFUSED, UNTOUCHED, UNTOUCHED]
    assert [r.key for r in run.nodes[0].refusals] == [downtime.HEAL_PENDING]
    assert step.calls == [] and ops.cluster.glusterd_waits == [] and ops.cli.heals == 0
    d = run.as_dict()
    assert d["stopped_at"] == "lab-host-1" and d["nodes"][0]["refusals"][0]["key"] == "HEAL_PENDING"
    assert "untouched" in ops.out.getvalue()


def test_a_node_down_before_the_second_stops_there():
    # node 1: gate healthy, back healthy; then another node is found down at node 2's gate
    ops = Ops([healthy(), healthy(), node_down()])
    step = Step()
    run = upgrader(ops, step).run()
    assert [n.status for n in run.nodes] == [UPGRADED, REFUSED, UNTOUCHED]
    keys = [r.key for r in run.nodes[1].refusals]
    assert downtime.BRICK_OFFLINE in keys and downtime.QUORUM_WOULD_BREAK in keys
    assert step.calls == ["lab-host-1"]


def test_a_failing_step_stops_the_run_with_the_node_and_the_reason():
    ops = Ops([healthy()])
    step = Step(fail_on="lab-host-2")
    run = upgrader(ops, step).run()
    assert [n.status for n in run.nodes] == [UPGRADED, FAILED, UNTOUCHED]
    assert run.stopped_at.host == "lab-host-2" and "dpkg broke on lab-host-2" in run.stopped_at.detail
    assert step.calls == ["lab-host-1", "lab-host-2"]


def test_a_node_that_never_heals_fails_within_the_bound_and_stops_the_run():
    ops = Ops([healthy(), pending(on=N1)])
    run = upgrader(ops, Step(), heal_timeout=60).run()
    assert [n.status for n in run.nodes] == [FAILED, UNTOUCHED, UNTOUCHED]
    assert "not healthy 60 s after" in run.nodes[0].detail and "heal of 5 entries pending" in run.nodes[0].detail
    assert ops.cli.heals > 3  # an index heal asked on every look while it was not healthy


def test_a_node_that_does_not_come_back_fails_within_the_bound():
    ops = Ops([healthy()])
    ops.targets[N1].up = False
    run = upgrader(ops, Step(), back_timeout=30).run()
    assert run.nodes[0].status == FAILED and "not back over SSH after 30 s" in run.nodes[0].detail
    assert [n.status for n in run.nodes[1:]] == [UNTOUCHED, UNTOUCHED]


def test_health_unanswered_at_the_gate_is_a_failure_not_a_yes():
    ops = Ops([XosanError("no storage VM answers over SSH")])
    step = Step()
    run = upgrader(ops, step).run()
    assert run.nodes[0].status == FAILED and step.calls == []


def test_the_plan_lists_nodes_versions_and_whether_the_first_may_go():
    ops = Ops([pending()])
    for t in ops.targets.values():
        t.answers["dpkg-query"] = Result(stdout="glusterfs-server\t10.3-5\tii \nlinux-image-amd64\t6.1.192-3\tii \n"
                                                "old-thing\t1.0\trc \n")
        t.answers["apt-get -s"] = Result(stdout="Inst glusterfs-server [10.3-5] (10.3-6 x)\nInst curl [1] (2 x)\n")
    run = upgrader(ops, upgrade.AptUpgrade()).plan()
    assert run.dry_run and [n.host for n in run.nodes] == ["lab-host-1", "lab-host-2", "lab-host-3"]
    assert run.nodes[0].versions == {"glusterfs": "10.3-5", "kernel": "6.1.192-3", "packages": 2,
                                     "upgradable": 1, "gluster_upgradable": 1, "after": "none"}
    assert [r.key for r in run.nodes[0].refusals] == [downtime.HEAL_PENDING]
    # the dry run only reads: no apt-get update, no install, no hold
    assert all([c[0] for c in t.ran] == ["dpkg-query", "apt-get"] and "-s" in t.ran[1]
               for t in ops.targets.values())
    buf = io.StringIO()
    import contextlib
    with contextlib.redirect_stdout(buf):
        cli_upgrade._print_plan(run, upgrade.AptUpgrade())
    text = buf.getvalue()
    assert "1. lab-host-1 (%s): GlusterFS 10.3-5, kernel 6.1.192-3" % N1 in text
    assert "1 to upgrade (+1 GlusterFS), then no restart" in text
    plan = upgrade.AptUpgrade(gluster=True).current(upgrade.UpgradeNode("h", "vm", {}, N1, ops.targets[N1]))
    assert plan["upgradable"] == 2 and plan["after"] == "restart-gluster"
    assert "may NOT go down now" in text and "held back" in text


# -- the apt step ----------------------------------------------------------------------------------

SIM = """NOTE: This is only a simulation!
Inst libc6 [2.36-9+deb12u9] (2.36-9+deb12u10 Debian-Security:12/stable-security [amd64])
Inst glusterfs-common [10.3-5] (10.3-6 Debian:12/stable [amd64])
Inst glusterfs-server [10.3-5] (10.3-6 Debian:12/stable [amd64])
Inst linux-image-6.1.0-58-amd64 (6.1.193-1 Debian-Security:12/stable-security [amd64])
Conf libc6 (2.36-9+deb12u10 Debian-Security:12/stable-security [amd64])
"""


def test_apt_simulation_and_what_a_node_needs_afterwards():
    ch = upgrade.parse_apt_simulation(SIM)
    assert ch["libc6"] == ("2.36-9+deb12u9", "2.36-9+deb12u10")
    assert ch["linux-image-6.1.0-58-amd64"] == (None, "6.1.193-1")
    assert sorted(upgrade.gluster_changes(ch)) == ["glusterfs-common", "glusterfs-server"]
    assert upgrade.restart_action(ch, False) == "reboot"
    assert upgrade.restart_action({"glusterfs-server": ("10.3-5", "10.3-6")}, False) == "restart-gluster"
    assert upgrade.restart_action({"libc6": ("a", "b")}, True) == "reboot"
    assert upgrade.restart_action({"curl": ("a", "b")}, False) == "none"
    assert upgrade.gluster_major_change(ch) is None
    assert upgrade.gluster_major_change({"glusterfs-server": ("10.3-5", "1:11.1-1")}) == (10, 11)


def apt_target(sim, held=""):
    return Target(N1, {"apt-get -s": Result(stdout=sim), "apt-mark showhold": Result(stdout=held),
                       "test -e /var/run/reboot-required": Result(returncode=1)})


def node(t):
    return upgrade.UpgradeNode("lab-host-1", "vm1", {}, N1, t)


class P(object):
    def __init__(self):
        self.lines = []

    def info(self, text):
        self.lines.append(text)


def test_apt_holds_glusterfs_back_by_default_and_only_what_it_held():
    sim = ("Inst glusterfs-server [10.3-5] (10.3-6 x)\nInst glusterfs-common [10.3-5] (10.3-6 x)\n"
           "Inst curl [7.88.1-10] (7.88.1-11 x)\n")
    t = apt_target(sim, held="glusterfs-common\n")
    detail = upgrade.AptUpgrade().apply(node(t), P(), None)
    cmds = [" ".join(c) for c in t.ran]
    assert "apt-mark hold glusterfs-server" in cmds and "apt-mark unhold glusterfs-server" in cmds
    assert not any("glusterfs-common" in c for c in cmds if c.startswith("apt-mark hold") or "unhold" in c)
    upgrade_cmd = [c for c in t.ran if c[-1] == "dist-upgrade" and "-y" in c and "-d" not in c][0]
    assert "Dpkg::Options::=--force-confold" in upgrade_cmd and "DEBIAN_FRONTEND=noninteractive" in upgrade_cmd
    assert cmds.index("apt-mark hold glusterfs-server") < cmds.index(" ".join(upgrade_cmd)) < \
        cmds.index("apt-mark unhold glusterfs-server")
    assert detail == "1 package(s) upgraded, no restart needed"
    assert not any(c[0] == "sh" for c in t.ran)  # GlusterFS did not change: no restart


def test_apt_with_gluster_restarts_glusterd_and_bricks_and_refuses_a_major_change():
    t = apt_target("Inst glusterfs-server [10.3-5] (10.3-6 x)\n")
    detail = upgrade.AptUpgrade(gluster=True).apply(node(t), P(), None)
    assert detail == "1 package(s) upgraded, GlusterFS restarted"
    assert ["sh", "-c", upgrade.RESTART_GLUSTER] in t.ran and not any(c[:2] == ["apt-mark", "hold"] for c in t.ran)
    t = apt_target("Inst glusterfs-server [10.3-5] (11.1-1 x)\n")
    with pytest.raises(Refused) as err:
        upgrade.AptUpgrade(gluster=True).apply(node(t), P(), None)
    assert "10 -> 11 is a major upgrade" in str(err.value) and "op-version" in err.value.hint
    assert not any("-y" in c for c in t.ran)  # refused before anything was installed


def test_apt_prepares_before_the_gate_installs_after_it_and_a_major_change_is_a_refusal():
    class Gate(Ops):
        def health(self):
            self.ran_before_gate = [" ".join(c) for c in self.targets[N1].ran]
            return Ops.health(self)

    sim = "Inst curl [7.88.1-10] (7.88.1-11 x)\n"
    targets = dict((ip, apt_target(sim)) for ip in (N1, N2, N3))
    ops = Gate([pending(on=N3)], targets)
    run = upgrader(ops, upgrade.AptUpgrade()).run()
    assert run.nodes[0].status == REFUSED and run.stopped_at.host == "lab-host-1"
    before = ops.ran_before_gate
    assert "apt-get -q update" in " | ".join(before) and any(" -d dist-upgrade" in c for c in before)
    # refused at the gate: downloaded, nothing installed, nothing restarted
    assert not any(c[-1] == "dist-upgrade" and "-d" not in c and "-y" in c for c in targets[N1].ran)
    assert targets[N2].ran == [] and targets[N3].ran == []

    targets = dict((ip, apt_target("Inst glusterfs-server [10.3-5] (11.1-1 x)\n")) for ip in (N1, N2, N3))
    ops = Ops([healthy()], targets)
    run = upgrader(ops, upgrade.AptUpgrade(gluster=True)).run()
    assert [n.status for n in run.nodes] == [REFUSED, UNTOUCHED, UNTOUCHED]
    assert "major upgrade" in run.nodes[0].detail and ops.asked == 0


def test_apt_unholds_even_when_the_upgrade_fails():
    t = apt_target("Inst glusterfs-server [10.3-5] (10.3-6 x)\nInst curl [1] (2 x)\n")
    t.answers["apt-get -q -y -o"] = Result(returncode=100, stderr="E: dpkg was interrupted")
    with pytest.raises(CommandFailed):
        upgrade.AptUpgrade().apply(node(t), P(), None)
    assert ["apt-mark", "unhold", "glusterfs-server"] in t.ran


def test_apt_with_nothing_to_do_does_nothing():
    t = apt_target("Inst glusterfs-server [10.3-5] (10.3-6 x)\n")
    assert upgrade.AptUpgrade().apply(node(t), P(), None).startswith("nothing to upgrade")
    assert not any("-y" in c for c in t.ran) and not any(c[:2] == ["apt-mark", "hold"] for c in t.ran)


# -- the image method -------------------------------------------------------------------------------

def test_image_upgrade_is_planned_with_its_version_and_refused_before_any_node(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "0.2.0", "packages": [
        {"name": "glusterfs-server", "version": "10.3-6", "arch": "amd64"},
        {"name": "linux-image-amd64", "version": "6.1.200-1", "arch": "amd64"}]}))
    step = upgrade.ImageUpgrade(str(tmp_path / "xosan-storage-vm-0.2.0.vhd"))
    assert step.version == "0.2.0"
    assert "image 0.2.0 (GlusterFS 10.3-6, kernel 6.1.200-1)" in step.describe(None)[0]
    ops = Ops([healthy()])
    run = upgrader(ops, step).run()
    assert not run.ok and run.blocker and "/var/lib/glusterd" in run.blocker
    assert [n.status for n in run.nodes] == [UNTOUCHED] * 3 and ops.asked == 0
    with pytest.raises(XosanError):
        upgrade.ImageUpgrade(str(tmp_path / "nowhere" / "x.vhd"))


def test_the_command_is_registered_with_its_flags():
    args = cli_main.build_parser().parse_args(["upgrade", "--method", "apt", "--gluster", "--json"])
    assert args.func is cli_upgrade.cmd_upgrade and args.gluster and not args.yes and args.method == "apt"
    args = cli_main.build_parser().parse_args(["upgrade", "--method", "image"])
    with pytest.raises(XosanError) as err:
        cli_upgrade._step(args)
    assert "--image" in str(err.value)
