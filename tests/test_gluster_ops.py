"""GlusterCLI's named operations and its error contract.

The answers are glusterd 10.3's own, captured in the lab (tests/data/gluster: peer-probe*,
volume-*, add-brick, remove-brick-force, replace-brick*, rebalance-*, heal-*.txt); the
runner is a fake that records argv, and the retry runs on a fake clock (no sleeping)."""

import os

import pytest

from xosan import gluster
from xosan.errors import DeployError, GlusterError, LinkLost, ServerUnreachable, VolumeNotFound
from xosan.gluster import cli as gcli
from xosan.gluster import ssh
from xosan.pool.inventory import GiB, MiB, brick_bytes

DATA = os.path.join(os.path.dirname(__file__), "data", "gluster")
B1, B2, B3 = ("10.250.147.1%d:/srv/xosan/brick/xosan/b1" % i for i in (1, 2, 3))


def data(name):
    with open(os.path.join(DATA, name)) as fh:
        return fh.read()


class Result(object):
    def __init__(self, stdout="", stderr="", returncode=0):
        self.stdout, self.stderr, self.returncode = stdout, stderr, returncode


class Clock(object):
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


class Runner(object):
    """Plays ``answers`` (data file names, Results or exceptions) in order, the last one repeated;
    each costs ``cost`` seconds of ``clock``."""

    def __init__(self, *answers, clock=None, cost=1.0):
        self.answers = list(answers)
        self.clock = clock
        self.cost = cost
        self.argvs = []

    def __call__(self, argv, timeout=60, check=True):
        assert check is False  # the CLI reads the answer itself
        self.argvs.append(list(argv))
        if self.clock:
            self.clock.now += self.cost
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, Result) else Result(data(answer))


def make_cli(*answers, **kw):
    clock = Clock()
    runner = Runner(*answers, clock=clock)
    return gluster.GlusterCLI(runner=runner, where="10.250.147.11", clock=clock, sleep=clock.sleep, **kw), \
        runner, clock


def busy(name="volume-info-missing.xml"):
    """A captured error answer with the text glusterd gives while another transaction holds its lock."""
    return Result(data(name).replace("Volume does not exist", "Another transaction is in progress for xosan. "
                                                             "Please try again after some time."))


# -- the named operations: argv built, answer read ------------------------------------------------------

OPS = [
    (lambda c: c.peer_probe("10.250.147.14"), "peer-probe.xml", ["peer", "probe", "10.250.147.14"]),
    (lambda c: c.peer_detach("10.250.147.14", force=True), "peer-detach.xml",
     ["peer", "detach", "10.250.147.14", "force"]),
    (lambda c: c.peer_detach("10.250.147.14"), "peer-detach.xml", ["peer", "detach", "10.250.147.14"]),
    (lambda c: c.volume_create("xosan", [B1, B2, B3], ["replica", "3", "arbiter", "1"]), "volume-start.xml",
     ["volume", "create", "xosan", "replica", "3", "arbiter", "1", B1, B2, B3]),
    (lambda c: c.volume_create("xosan", [B1, B2], force=True), "volume-start.xml",
     ["volume", "create", "xosan", B1, B2, "force"]),
    (lambda c: c.volume_set("xosan", "network.ping-timeout", "4"), "volume-set.xml",
     ["volume", "set", "xosan", "network.ping-timeout", "4"]),
    (lambda c: c.volume_set("all", "cluster.server-quorum-ratio", "51%"), "volume-set.xml",
     ["volume", "set", "all", "cluster.server-quorum-ratio", "51%"]),
    (lambda c: c.volume_start("xosan"), "volume-start.xml", ["volume", "start", "xosan"]),
    (lambda c: c.add_brick("xosan", [B3], replica=3, arbiter=1), "add-brick.xml",
     ["volume", "add-brick", "xosan", "replica", "3", "arbiter", "1", B3]),
    (lambda c: c.add_brick("xosan", [B1, B2, B3], replica=3), "add-brick.xml",
     ["volume", "add-brick", "xosan", "replica", "3", B1, B2, B3]),
    (lambda c: c.add_brick("xosan", [B1, B2, B3]), "add-brick.xml", ["volume", "add-brick", "xosan", B1, B2, B3]),
    (lambda c: c.remove_brick_force("xosan", [B3], replica=2), "remove-brick-force.xml",
     ["volume", "remove-brick", "xosan", "replica", "2", B3, "force"]),
    (lambda c: c.replace_brick("xosan", B2, B3), "replace-brick.xml",
     ["volume", "replace-brick", "xosan", B2, B3, "commit", "force"]),
    (lambda c: c.rebalance_start("xosan"), "rebalance-start.xml", ["volume", "rebalance", "xosan", "start"]),
]


@pytest.mark.parametrize("op,answer,args", OPS, ids=[" ".join(a[:3]) + str(i) for i, (_, _, a) in enumerate(OPS)])
def test_each_operation_runs_its_gluster_command_once(op, answer, args):
    c, runner, clock = make_cli(answer)
    assert op(c) is None
    assert runner.argvs == [["gluster", "--mode=script"] + args + ["--xml"]]
    assert clock.slept == []


def test_a_query_from_dom0_names_the_remote_glusterd():
    runner = Runner("volume-list.xml")
    assert gluster.GlusterCLI(runner=runner, remote_host="10.0.0.1").volume_list() == ["xosan"]
    assert runner.argvs == [["gluster", "--mode=script", "--remote-host=10.0.0.1", "volume", "list", "--xml"]]


@pytest.mark.parametrize("op,answer,text,errno", [
    (lambda c: c.peer_probe("10.250.147.99"), "peer-probe-unreachable.xml",
     "peer probe failed: Probe returned with Transport endpoint is not connected", 107),
    (lambda c: c.volume_create("dist", [B1, B2]), "volume-create-exists.xml",
     "volume create failed: Volume dist already exists", 0),
    (lambda c: c.volume_start("dist"), "volume-start-started.xml", "volume start failed: Volume dist already started",
     30800),
    (lambda c: c.volume_set("dist", "no.such-option", "1"), "volume-set-unknown-option.xml",
     "volume set failed: option : no.such-option does not exist", 30800),
    (lambda c: c.replace_brick("rep", B2, B3), "replace-brick-no-such-brick.xml",
     "replace-brick failed: brick: 10.250.147.13:/srv/xosan/brick/dist/b3 does not exist in volume: rep", 0),
    (lambda c: c.rebalance_status("dist"), "rebalance-status-not-started.xml",
     "rebalance status failed: Rebalance not started for volume dist.", 30800),
])
def test_glusterds_refusal_is_a_gluster_error_with_its_reason_and_not_repeated(op, answer, text, errno):
    c, runner, clock = make_cli(answer)
    with pytest.raises(GlusterError) as err:
        op(c)
    assert err.value.message.startswith(text) and err.value.op_errno == errno
    assert len(runner.argvs) == 1 and clock.slept == []


def test_rebalance_status_reads_each_node_not_the_aggregate():
    c, runner, _ = make_cli("rebalance-status-in-progress.xml")
    status = c.rebalance_status("dist")
    assert runner.argvs == [["gluster", "--mode=script", "volume", "rebalance", "dist", "status", "--xml"]]
    assert isinstance(status, gluster.RebalanceStatus)
    assert [(n.name, n.state, n.files) for n in status.nodes] == [
        ("10.250.147.12", "in progress", 22), ("10.250.147.13", "completed", 0),
        ("10.250.147.14", "completed", 0), ("localhost", "in progress", 23)]
    # the aggregate line (45 files too) is not counted twice
    assert status.files == 45 and status.states == ["completed", "in progress"]
    assert not status.finished and not status.failed
    assert status.task_id == "7a5e2469-e727-4abe-8057-2c8f17520c55"
    done = gluster.parse_rebalance_status(data("rebalance-status-completed.xml"))
    assert done.finished and not done.failed and done.files == 132 and done.nodes[0].size == 59 * 256 * 1024
    one_failed = data("rebalance-status-in-progress.xml").replace(
        "<statusStr>in progress</statusStr>", "<statusStr>failed</statusStr>", 1)
    failed = gluster.parse_rebalance_status(one_failed)
    assert failed.failed and not failed.finished and failed.states == ["completed", "failed", "in progress"]
    assert not gluster.RebalanceStatus([]).finished  # no node answered: not done


def test_heal_answers_in_prose_and_its_exit_status_says_whether_it_started():
    c, runner, _ = make_cli(Result(data("heal-full.txt")))
    c.heal("rep", full=True)
    assert runner.argvs == [["gluster", "--mode=script", "volume", "heal", "rep", "full"]]
    c, runner, clock = make_cli(Result("", data("heal-index-failed.txt"), 1))
    with pytest.raises(GlusterError) as err:
        c.heal("rep")
    assert runner.argvs == [["gluster", "--mode=script", "volume", "heal", "rep"]]
    assert "brick op 'Heal' failed" in err.value.message and "has been unsuccessful" in err.value.message
    assert clock.slept == []
    c, _, _ = make_cli(Result("Connection failed. Please check if gluster daemon is operational.\n", "", 1))
    with pytest.raises(ServerUnreachable):
        c.heal("rep")


# -- the error contract --------------------------------------------------------------------------------

def test_a_query_is_retried_while_the_lock_is_held():
    c, runner, clock = make_cli(busy(), busy(), "volume-list.xml")
    assert c.volume_list() == ["xosan"]
    assert len(runner.argvs) == 3 and clock.slept == [gcli.RETRY_EVERY] * 2


def test_a_query_gives_up_once_the_lock_was_held_for_retry_for_seconds():
    c, runner, clock = make_cli(busy())
    start = clock.now
    with pytest.raises(GlusterError) as err:
        c.volume_list()
    assert "Another transaction is in progress" in err.value.message
    # each try costs 1 s of the fake clock, each pause RETRY_EVERY: ~RETRY_FOR / 3 tries, then the error
    assert gcli.RETRY_FOR < clock.now - start <= gcli.RETRY_FOR + 1 + gcli.RETRY_EVERY
    assert len(runner.argvs) == len(clock.slept) + 1 == 31


def test_a_real_error_is_not_retried():
    c, runner, clock = make_cli("volume-info-missing.xml")
    with pytest.raises(VolumeNotFound):
        c.volume_info("nosuch")
    assert len(runner.argvs) == 1 and clock.slept == []


def test_a_lost_link_is_a_gluster_error_retried_for_queries_only():
    lost = ssh.SSHError("cannot reach 10.250.147.11 over SSH: Connection reset by peer")
    assert isinstance(lost, LinkLost) and isinstance(lost, GlusterError)
    c, runner, clock = make_cli(lost, "pool-list.xml")
    assert len(c.pool_list()) == 3
    assert len(runner.argvs) == 2 and clock.slept == [gcli.RETRY_EVERY]
    # a command may have run before the link went: never sent again
    c, runner, clock = make_cli(lost, "peer-probe.xml")
    with pytest.raises(ssh.SSHError):
        c.peer_probe("10.250.147.14")
    assert len(runner.argvs) == 1 and clock.slept == []
    c, runner, clock = make_cli(lost, Result(data("heal-full.txt")))
    with pytest.raises(LinkLost):
        c.heal("rep")
    assert len(runner.argvs) == 1


def test_a_command_is_retried_while_the_lock_is_held_since_nothing_ran():
    locked = Result(data("peer-probe-unreachable.xml").replace(
        "Probe returned with Transport endpoint is not connected", "Locking failed on 10.250.147.12"))
    c, runner, clock = make_cli(locked, "peer-probe.xml")
    c.peer_probe("10.250.147.14")
    assert len(runner.argvs) == 2 and runner.argvs[0] == runner.argvs[1] and clock.slept == [gcli.RETRY_EVERY]


def test_a_lost_ssh_link_reaches_the_cli_as_link_lost(tmp_path, monkeypatch):
    """The real SSHTarget under the CLI, with an ``ssh`` that fails the way a dropped link does."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "ssh"
    fake.write_text("#!/bin/sh\necho 'Connection to 10.250.147.11 closed by remote host.' >&2\nexit 255\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + os.environ["PATH"])
    target = ssh.SSHTarget("10.250.147.11", str(tmp_path / "key"), str(tmp_path / "known_hosts"))
    clock = Clock()
    c = gluster.GlusterCLI(runner=target.run, where=target.address, clock=clock, sleep=clock.sleep)
    with pytest.raises(GlusterError) as err:  # what the callers catch
        c.volume_list()
    assert isinstance(err.value, ssh.SSHError) and "closed by remote host" in err.value.message
    assert clock.slept and sum(clock.slept) >= gcli.RETRY_FOR  # retried, then given up
    clock.slept[:] = []
    with pytest.raises(LinkLost):
        c.volume_start("xosan")
    assert clock.slept == []


# -- brick sizing: one rule for deploy, replace-host and add-host -----------------------------------------

class Storage(object):
    def __init__(self, brick_size, reserve=10 * GiB, sr="auto"):
        self.brick_size, self.reserve, self.sr = brick_size, reserve, sr


def sr(free, size=100 * GiB):
    return {"name_label": "Local storage", "physical_size": str(size), "physical_utilisation": str(size - free)}


def test_brick_bytes():
    # "all": the free space (a re-run's own disk counted as free) less the reserve, in whole MiB
    assert brick_bytes(Storage("all"), "h1", sr(40 * GiB + 123), own_bytes=20 * GiB) == 50 * GiB
    assert brick_bytes(Storage(30 * GiB), "h1", sr(40 * GiB)) == 30 * GiB
    # a replacement's size comes first, whatever the manifest says
    assert brick_bytes(Storage("all"), "h1", sr(40 * GiB), wanted=20 * GiB) == 20 * GiB
    with pytest.raises(DeployError) as err:
        brick_bytes(Storage(50 * GiB), "h1", sr(40 * GiB))
    assert "host h1: brick size 50" in err.value.message and "does not fit" in err.value.message
    assert "brick-size" in err.value.hint
    with pytest.raises(DeployError) as err:
        brick_bytes(Storage("all"), "h2", sr(40 * GiB), wanted=41 * GiB)
    assert "host h2" in err.value.message and "does not fit" in err.value.message
    with pytest.raises(DeployError) as err:
        brick_bytes(Storage("all"), "h3", sr(10 * GiB + 512 * MiB))
    assert "host h3: only 0.5 GiB free" in err.value.message and "reserve" in err.value.message
