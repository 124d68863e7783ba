"""Bounded waits for cluster state (issue 13): a probed peer joins, started bricks come up, a restarted
glusterd answers. The unit tests play XML captured from glusterfs 10.3 in the lab (tests/data/gluster;
the *-joining captures were taken with the new node's glusterd paused right after ``peer probe``)
on a fake clock; the lab test provokes the race that failed CI with real glusterd."""

import os
import signal
import threading

import pytest
from labpool import pool_fixture

from xosan import gluster
from xosan.errors import GlusterError, ServerUnreachable
from xosan.gluster import health
from xosan.pool.cluster import Cluster

DATA = os.path.join(os.path.dirname(__file__), "data", "gluster")
N1, N2, N3, N4 = ("10.250.211.%d" % i for i in (11, 12, 13, 14))  # .14 joins, probed from .11


def data(name):
    with open(os.path.join(DATA, name)) as fh:
        return fh.read()


class Clock(object):
    """time.monotonic and time.sleep of a test: sleeping only moves the clock."""

    def __init__(self):
        self.now = 5000.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds


class Result(object):
    def __init__(self, stdout="", stderr="", returncode=0):
        self.stdout, self.stderr, self.returncode = stdout, stderr, returncode


NO_GLUSTERD = Result("Connection failed. Please check if gluster daemon is operational.\n", "", 1)


class Node(object):
    """The gluster CLI of one storage node, as a GlusterCLI runner: for each command ("pool list",
    "volume status", ...) a script of answers (a data file name, a Result or an exception), played
    in order, the last one repeated. Each answer costs ``cost`` seconds of the fake clock."""

    def __init__(self, clock, cost=0.2, **scripts):
        self.clock = clock
        self.cost = cost
        self.scripts = dict((k.replace("_", " "), list(v)) for k, v in scripts.items())
        self.calls = []

    def run(self, argv, timeout=60, check=True):
        assert argv[:2] == ["gluster", "--mode=script"] and argv[-1] == "--xml"
        command = " ".join(argv[2:4])
        self.calls.append((command, timeout))
        self.clock.now += self.cost
        script = self.scripts[command]
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, Result) else Result(data(answer))

    def asked(self, command):
        return sum(1 for c, _ in self.calls if c == command)


def cli(node, address, timeout=60):
    return gluster.GlusterCLI(runner=node.run, where=address, timeout=timeout)


# -- parsing ------------------------------------------------------------------------------------------

def test_a_joining_peer_is_connected_but_not_in_cluster():
    peers = gluster.parse_peer_status(data("peer-status-joining.xml"))
    assert [p.hostname for p in peers] == [N2, N3, N4]  # peer status leaves the node itself out
    new = peers[2]
    # what the old wait looked at (connected) is already true: replace-brick then failed in staging
    assert new.connected and new.state == "Accepted peer request" and not new.in_cluster
    assert new.hostnames == [N4] and new.known_as(N4) and new.describe() == "'Accepted peer request'"
    assert all(p.in_cluster for p in peers[:2])
    assert all(p.in_cluster for p in gluster.parse_peer_status(data("peer-status-joined.xml")))


def test_pool_list_has_the_node_itself_without_a_state():
    peers = gluster.parse_pool_list(data("pool-list-joining.xml"))
    me = [p for p in peers if p.hostname == "localhost"][0]
    assert me.connected and me.state is None and not me.in_cluster and me.hostnames == ["localhost"]
    # the other old node has not heard of the new peer yet
    assert N4 not in [p.hostname for p in gluster.parse_pool_list(data("pool-list-joining-other.xml"))]
    down = [p for p in gluster.parse_pool_list(data("pool-list-node-down.xml")) if not p.connected]
    assert down[0].describe() == "'Peer in Cluster', disconnected" and not down[0].in_cluster


def test_peer_lag_names_each_node_that_does_not_agree():
    views = {N1: gluster.parse_pool_list(data("pool-list-joining.xml")),
             N2: gluster.parse_pool_list(data("pool-list-joining-other.xml")),
             N4: ServerUnreachable("glusterd on %s cannot be reached (Connection failed)" % N4)}
    lag = gluster.peer_lag(views, [N1, N2, N4])
    assert lag == [(N4, N1, "'Accepted peer request'"), (N4, N2, "unknown"),
                   (None, N4, "not asked: glusterd on %s cannot be reached (Connection failed)" % N4)]
    assert gluster.describe_lag(lag, 60) == (
        "peer 10.250.211.14 did not reach 'Peer in Cluster' within 60 s (last seen: 'Accepted peer request' "
        "on 10.250.211.11, unknown on 10.250.211.12; 10.250.211.14 not asked: glusterd on 10.250.211.14 "
        "cannot be reached (Connection failed))")
    joined = {N1: gluster.parse_pool_list(data("pool-list-joined.xml")),
              N2: gluster.parse_pool_list(data("pool-list-joined-other.xml")),
              N4: gluster.parse_pool_list(data("pool-list-joined-new.xml"))}
    assert gluster.peer_lag(joined, [N1, N2, N3, N4]) == []


def test_a_node_known_by_another_name_is_found_by_its_uuid():
    renamed = data("pool-list-joined-other.xml").replace("<hostname>%s</hostname>" % N1,
                                                         "<hostname>xosan-lab-host-1</hostname>")
    views = {N1: gluster.parse_pool_list(data("pool-list-joined.xml")), N2: gluster.parse_pool_list(renamed)}
    assert gluster.peer_lag(views, [N1, N2]) == []


# -- waits -----------------------------------------------------------------------------------------------

def test_wait_for_peers_until_every_node_agrees():
    clock = Clock()
    n1 = Node(clock, pool_list=["pool-list-joining.xml"] * 3 + ["pool-list-joined.xml"])
    n2 = Node(clock, pool_list=["pool-list-joining-other.xml"] * 5 + ["pool-list-joined-other.xml"])
    n4 = Node(clock, pool_list=[NO_GLUSTERD, "pool-list-joined-new.xml"])
    start = clock.now
    gluster.wait_for_peers({N1: cli(n1, N1), N2: cli(n2, N2), N4: cli(n4, N4)}, [N1, N2, N4],
                           timeout=60, poll=0.5, clock=clock, sleep=clock.sleep)
    # asked again until the slowest node saw the new peer join, polling every 0.5 s
    assert n2.asked("pool list") == 6 and n1.asked("pool list") == 6
    assert clock.slept == [0.5] * 5 and clock.now - start < 10


def test_wait_for_peers_times_out_with_what_it_saw_last():
    clock = Clock()
    n1 = Node(clock, pool_list=["pool-list-joining.xml"])
    start = clock.now
    with pytest.raises(gluster.ClusterWaitTimeout) as err:
        gluster.wait_for_peers({N1: cli(n1, N1)}, [N1, N4], timeout=60, poll=1, clock=clock, sleep=clock.sleep)
    assert isinstance(err.value, GlusterError)  # what callers of gluster commands catch
    assert err.value.message == ("peer 10.250.211.14 did not reach 'Peer in Cluster' within 60 s "
                                 "(last seen: 'Accepted peer request' on 10.250.211.11)")
    assert err.value.what == "Peer in Cluster" and "24007" in str(err.value)
    assert 60 <= clock.now - start <= 61.5 and max(clock.slept) <= 1


def test_each_question_of_a_wait_gets_only_the_time_left():
    clock = Clock()
    n1 = Node(clock, cost=3, pool_list=["pool-list-joining.xml"])
    with pytest.raises(gluster.ClusterWaitTimeout):
        gluster.wait_for_peers({N1: cli(n1, N1, timeout=60)}, [N1, N4], timeout=20, poll=1, clock=clock,
                               sleep=clock.sleep)
    timeouts = [t for _, t in n1.calls]
    assert timeouts[0] == 20 and timeouts == sorted(timeouts, reverse=True)
    assert min(timeouts) >= gluster.MIN_ASK


def test_a_held_lock_is_polled_on_the_waits_clock_not_retried_for_90_s():
    clock = Clock()
    busy = Result(data("volume-info-missing.xml").replace("Volume does not exist",
                                                          "Another transaction is in progress for xosan"))
    assert "Another transaction" in busy.stdout
    n1 = Node(clock, pool_list=[busy, busy, "pool-list-joined.xml"])
    n4 = Node(clock, pool_list=["pool-list-joined-new.xml"])
    gluster.wait_for_peers({N1: cli(n1, N1), N4: cli(n4, N4)}, timeout=10, clock=clock, sleep=clock.sleep)
    assert n1.asked("pool list") == 3 and len(clock.slept) == 2


def test_wait_for_glusterd_after_a_restart():
    clock = Clock()
    n4 = Node(clock, pool_list=[NO_GLUSTERD, NO_GLUSTERD, "pool-list-joined-new.xml"])
    gluster.wait_for_glusterd({N4: cli(n4, N4)}, timeout=30, poll=0.5, clock=clock, sleep=clock.sleep)
    assert n4.asked("pool list") == 3 and clock.slept == [0.5, 0.5]
    never = Node(clock, pool_list=[NO_GLUSTERD])
    with pytest.raises(gluster.ClusterWaitTimeout) as err:
        gluster.wait_for_glusterd({N4: cli(never, N4)}, timeout=30, clock=clock, sleep=clock.sleep)
    assert err.value.message == ("glusterd on 10.250.211.14 did not answer within 30 s (last seen: "
                                 "10.250.211.14: glusterd on 10.250.211.14 cannot be reached (Connection "
                                 "failed. Please check if gluster daemon is operational.))")


def test_wait_for_bricks_of_a_started_volume():
    clock = Clock()
    n1 = Node(clock, volume_info=["volume-info.xml"],
              volume_status=["volume-status-not-started.xml", "volume-status-node-down.xml", "volume-status.xml"])
    gluster.wait_for_bricks(cli(n1, "10.250.78.11"), "xosan", timeout=30, poll=0.5, clock=clock,
                            sleep=clock.sleep)
    assert n1.asked("volume status") == 3 and clock.slept == [0.5, 0.5]


def test_wait_for_bricks_names_the_offline_brick():
    clock = Clock()
    n1 = Node(clock, volume_status=["volume-status-brick-offline.xml"])
    bricks = ["10.250.241.%d:/srv/xosan/brick/xosan" % i for i in (11, 12, 13)]
    with pytest.raises(gluster.ClusterWaitTimeout) as err:
        gluster.wait_for_bricks(cli(n1, "10.250.241.11"), "xosan", bricks, timeout=30, clock=clock,
                                sleep=clock.sleep)
    assert err.value.message == ("brick 10.250.241.13:/srv/xosan/brick/xosan of volume xosan did not come "
                                 "online within 30 s (last seen: 10.250.241.13:/srv/xosan/brick/xosan offline)")
    # the two online ones are enough when only they are waited for
    gluster.wait_for_bricks(cli(n1, "10.250.241.11"), "xosan", bricks[:2], timeout=30, clock=clock,
                            sleep=clock.sleep)
    stopped = Node(clock, volume_status=["volume-status-not-started.xml"])
    with pytest.raises(gluster.ClusterWaitTimeout) as err:
        gluster.wait_for_bricks(cli(stopped, "10.250.241.11"), "cap", bricks, timeout=5, clock=clock,
                                sleep=clock.sleep)
    assert "(last seen: volume status failed: Volume cap is not started)" in err.value.message


def test_poll_until_returns_at_once_and_never_sleeps_past_the_deadline():
    clock = Clock()
    assert gluster.poll_until(lambda t: (True, "x"), 10, clock=clock, sleep=clock.sleep) == (True, "x")
    assert clock.slept == []
    assert gluster.poll_until(lambda t: (False, "y"), 1.2, poll=0.5, clock=clock, sleep=clock.sleep) == (False, "y")
    assert clock.slept == [0.5, 0.5, pytest.approx(0.2)]


# -- how replace-host / add-host pick the nodes that must agree --------------------------------------------

class FakeAccess(object):
    """A NodeAccess whose GlusterCLIs run on fake nodes; records which nodes were asked for."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.asked_for = []

    def cli(self, address, timeout=60):
        self.asked_for.append(address)
        return cli(self.nodes[address], address)


class Progress(object):
    def __init__(self):
        self.lines = []

    def info(self, text):
        self.lines.append(text)


def test_replace_waits_on_every_connected_node_but_the_dead_one():
    clock = Clock()
    nodes = {N1: Node(clock, pool_list=["pool-list-joined.xml"]),
             N2: Node(clock, pool_list=["pool-list-joined-other.xml"]),
             N4: Node(clock, pool_list=["pool-list-joined-new.xml"])}
    access = FakeAccess(nodes)
    p = Progress()
    Cluster(access, None, "xosan").wait_joined(p, cli(nodes[N1], N1), [N4], exclude=[N3])
    # .11 runs the next command, .12 is connected, .13 is the dead one (excluded), .14 the new one
    assert access.asked_for == [N2, N4] and all(n.asked("pool list") for n in nodes.values())
    assert p.lines == ["10.250.211.11, 10.250.211.12, 10.250.211.14: 'Peer in Cluster' on 10.250.211.11, "
                       "10.250.211.12, 10.250.211.14"]


# -- the race on real glusterd ---------------------------------------------------------------------------

pool4 = pool_fixture(4, 230)


@pytest.mark.gluster
def test_replace_host_waits_for_a_slow_new_peer(pool4, monkeypatch):
    """CI's failure made likely: the new node's glusterd is paused for a few seconds right after
    ``peer probe`` returns, so the probing node usually still sees it connected in 'Accepted peer
    request' (where the old wait went on to replace-brick; measured: the old code then failed with
    CI's error) and the other node does not know it yet. Likely, not certain: the probe can
    complete the handshake before the pause lands, so what was seen is reported, not asserted;
    what is asserted is that replace-host gets through a new node frozen for 8 s."""
    m = pool4.manifest(hosts="lab-host-1,lab-host-2,lab-host-3")
    pool4.deployment(m).run()
    pool4.node_of("lab-host-2").kill()
    seen, paused, timers = [], [], []
    probe = gluster.GlusterCLI.peer_probe

    def slow_probe(self, address):
        probe(self, address)
        [node] = [n for n in pool4.lab.nodes if n.ip == address and n.running()]
        pid = node.glusterd_pid()
        with open("/proc/%d/comm" % pid) as fh:
            assert fh.read().strip() == "glusterd"
        os.kill(pid, signal.SIGSTOP)
        paused.append(pid)
        timers.append(threading.Timer(8, os.kill, (pid, signal.SIGCONT)))
        timers[-1].start()
        seen.extend(p for p in self.pool_list() if p.hostname == node.ip)
    monkeypatch.setattr(gluster.GlusterCLI, "peer_probe", slow_probe)
    try:
        h = pool4.ops(m).replace("lab-host-2", "lab-host-4", heal_timeout=300)
    finally:
        for t in timers:
            t.cancel()
        for pid in paused:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
    assert seen, "the probing node did not list the new peer right after peer probe"
    print("right after peer probe the probing node saw: %s" % seen)
    assert h.verdict == health.HEALTHY, h.reason
    assert sorted(pool4.ops(m).storage_vms()) == ["lab-host-1", "lab-host-3", "lab-host-4"]
