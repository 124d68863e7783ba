"""Talking to glusterd through its CLI in XML mode, and reading its answers.

The CLI is the only interface glusterd offers that works the same in dom0
(read-only, ``--remote-host``) and inside a storage VM (over SSH), so one
class serves both by taking a command prefix.
"""

import os
import tempfile
import time

from xosan import proc
from xosan.errors import (
    ClusterWaitTimeout,
    CommandFailed,
    CommandTimeout,
    GlusterError,
    LinkLost,
    ServerUnreachable,
    VolumeNotFound,
    XosanError,
)
from xosan.gluster.parse import (
    PEER_IN_CLUSTER,
    RebalanceStatus,  # noqa: F401  (the type of rebalance_status's answer)
    parse_cli_output,
    parse_heal_info,
    parse_peer_status,
    parse_pool_list,
    parse_rebalance_status,
    parse_volume_clients,
    parse_volume_get,
    parse_volume_info,
    parse_volume_list,
    parse_volume_status,
)

GLUSTER = "gluster"

# glusterd refuses while a cluster-wide transaction holds its lock (e.g. one that waits for a
# peer that just vanished): worth retrying for a while, unlike a real error. The refusal comes
# before the command did anything, so even a state-changing command may be sent again.
TRANSIENT = ("Another transaction is in progress", "Locking failed", "is busy")
RETRY_FOR = 90.0
RETRY_EVERY = 2.0

# Bounded waits for cluster state (seconds): how long, and how often to ask.
PEER_TIMEOUT = 60.0
GLUSTERD_TIMEOUT = 60.0
BRICKS_TIMEOUT = 120.0
POLL = 0.5
# One question asked during a wait may take this long even when the wait has less time left.
MIN_ASK = 5.0

# glfsheal, the program behind ``volume heal VOL info``: /usr/sbin on the RPM distributions (package
# glusterfs-server), the libexec folder on Debian (glusterfs-common).
GLFSHEAL_PATHS = ("/usr/sbin/glfsheal", "/usr/libexec/glusterfs/glfsheal",
                  "/usr/lib/x86_64-linux-gnu/glusterfs/glfsheal")
# It lists every pending entry before it prints the counts: a long heal takes longer than a query.
HEAL_TIMEOUT = 20.0


def lock_held(exc):
    # type: (GlusterError) -> bool
    """glusterd refused for its lock: nothing ran, so asking again is safe for any command."""
    return not isinstance(exc, LinkLost) and any(t in exc.message for t in TRANSIENT)


def worth_asking_again(exc):
    # type: (GlusterError) -> bool
    """For a read-only query, a lost link is as harmless to repeat as a held lock."""
    return isinstance(exc, LinkLost) or lock_held(exc)


class GlusterCLI(object):
    """Runs ``gluster --mode=script ... --xml`` somewhere and parses the answer.

    ``runner(argv, timeout=, check=)`` puts the command on a storage node (an
    SSHTarget's ``run``); without one it runs here. ``remote_host`` asks a
    glusterd over the network from here, which glusterd allows for queries only.

    The error contract: glusterd's refusals, a glusterd that does not answer and a lost link
    to its node (LinkLost) are all GlusterErrors. Queries (read-only) are
    retried for RETRY_FOR seconds while glusterd's lock is held or the link to the
    node is lost (LinkLost); commands that change state are retried only while the
    lock is held, because after a lost link nobody knows whether they ran.
    ``clock``/``sleep`` are the retry's (monotonic) time, for tests.
    """

    def __init__(self, runner=None, remote_host=None, timeout=30, where=None, clock=None, sleep=None,
                 glfsheal=None):
        self.runner = runner or proc.run
        self.remote_host = remote_host
        self.timeout = timeout
        self._where = where
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self.glfsheal = glfsheal  # None: the first of GLFSHEAL_PATHS installed, looked up when needed

    def where(self):
        return self._where or self.remote_host or "the local glusterd"

    def _run(self, args, what, timeout, xml=True):
        timeout = self.timeout if timeout is None else timeout
        cmd = [GLUSTER, "--mode=script"]
        if self.remote_host:
            cmd.append("--remote-host=%s" % self.remote_host)
        cmd += list(args) + (["--xml"] if xml else [])
        try:
            res = self.runner(cmd, timeout=timeout, check=False)
        except CommandTimeout:
            raise ServerUnreachable("glusterd on %s did not answer %r within %s s"
                                    % (self.where(), what, _secs(timeout)))
        except CommandFailed as exc:
            raise GlusterError("cannot run the gluster command on %s: %s" % (self.where(), exc.message))
        return res

    def _unreachable(self, res, text):
        if "Connection failed" in text or "not connected" in text or (res.returncode != 0 and not text):
            raise ServerUnreachable("glusterd on %s cannot be reached (%s)" % (
                self.where(), text.splitlines()[-1] if text else "no answer"),
                hint="Check that the storage node is running and reachable on TCP port 24007")

    def run_xml(self, args, what=None, timeout=None):
        what = what or " ".join(args[:2])
        res = self._run(args, what, timeout)
        out = res.stdout or ""
        if "<cliOutput" not in out:
            text = (res.stderr + out).strip()
            self._unreachable(res, text)
            raise GlusterError("gluster %s on %s failed: %s" % (what, self.where(), text or "no output"))
        return out

    def run_text(self, args, what=None, timeout=None):
        """For the few commands that answer in prose even when asked for XML (``volume heal``):
        the exit status says whether glusterd did it; the text is the reason when it did not."""
        what = what or " ".join(args[:2])
        res = self._run(args, what, timeout, xml=False)
        text = ((res.stdout or "") + (res.stderr or "")).strip()
        if res.returncode != 0 or "unsuccessful" in text:
            self._unreachable(res, text)
            raise GlusterError("gluster %s on %s failed: %s" % (
                what, self.where(), " ".join(text.split()) or "no output"))
        return text

    def _retrying(self, attempt, again):
        deadline = self._clock() + RETRY_FOR
        while True:
            try:
                return attempt()
            except GlusterError as exc:
                if not again(exc) or self._clock() > deadline:
                    raise
            self._sleep(RETRY_EVERY)

    def query(self, args, parse, what=None):
        """run_xml + parse of a read-only question, retried while the lock is held or the link is lost."""
        return self._retrying(lambda: parse(self.run_xml(list(args), what)), worth_asking_again)

    def ask(self, args, parse, what=None, timeout=None):
        """run_xml + parse once, no retry: for the waits below, which poll on their own clock."""
        return parse(self.run_xml(list(args), what, timeout))

    def command(self, args, what=None):
        """A command that changes something; raises on failure, retried only while the lock is held."""
        what = what or " ".join(args[:2])
        self._retrying(lambda: parse_cli_output(self.run_xml(list(args), what), what), lock_held)

    # -- queries ---------------------------------------------------------------------------------

    def volume_info(self, volume=None):
        args = ["volume", "info"] + ([volume] if volume else [])
        try:
            return self.query(args, parse_volume_info, "volume info")
        except GlusterError as exc:
            if volume and not isinstance(exc, ServerUnreachable) and "does not exist" in exc.message:
                raise VolumeNotFound("volume %r does not exist on %s" % (volume, self.where()),
                                     hint="Check device-config:volume; sr-probe with only "
                                          "device-config:server lists the volumes")
            raise

    def volume_list(self):
        return self.query(["volume", "list"], parse_volume_list, "volume list")

    def pool_list(self):
        return self.query(["pool", "list"], parse_pool_list, "pool list")

    def peer_status(self):
        return self.query(["peer", "status"], parse_peer_status, "peer status")

    def volume_status(self, volume, detail=True):
        args = ["volume", "status", volume] + (["detail"] if detail else [])
        return self.query(args, parse_volume_status, "volume status")

    def heal_info(self, volume, split_brain=False):
        """[HealEntry] per brick. Over --remote-host the CLI's own ``volume heal VOL info`` cannot
        work (it runs glfsheal on this machine, which asks this machine's glusterd for the volfile),
        so then the volfile is fetched from the remote glusterd and glfsheal run here on it."""
        if self.remote_host:
            return self.heal_info_from_volfile(volume, self.volfile(volume), split_brain)
        args = ["volume", "heal", volume, "info"] + (["split-brain"] if split_brain else [])
        return self.query(args, parse_heal_info, "heal info")

    def volfile(self, volume):
        # type: (str) -> str
        """The client volfile of ``volume`` (``system:: getspec``, what a FUSE mount fetches): glusterd
        serves it over --remote-host, so a machine without glusterd can still run glfsheal."""
        res = self._run(["system::", "getspec", volume], "system:: getspec", None, xml=False)
        text = res.stdout or ""
        if res.returncode != 0 or "end-volume" not in text:
            why = " ".join(((res.stderr or "") + text).split())
            if why:
                self._unreachable(res, why)
            # measured (10.3): a volume glusterd does not have gives rc 1 and no output at all, as
            # glusterd not answering would; the callers asked volume info before, so it answers
            raise GlusterError("gluster system:: getspec %s on %s gave no volfile: %s" % (
                volume, self.where(), why[:300] or "rc %s, no output (no such volume?)" % res.returncode))
        return text

    def glfsheal_path(self):
        path = self.glfsheal or next((p for p in GLFSHEAL_PATHS if os.access(p, os.X_OK)), None)
        if path is None:
            raise GlusterError("glfsheal is not installed on this machine (looked for %s)" % ", ".join(GLFSHEAL_PATHS),
                               hint="it comes with the GlusterFS server package (glusterfs-server on "
                                    "XCP-ng/CentOS, glusterfs-common on Debian); glusterd need not run")
        return path

    def heal_info_from_volfile(self, volume, volfile, split_brain=False, timeout=HEAL_TIMEOUT):
        # type: (str, str, bool, float) -> list
        """[HealEntry] from glfsheal run on this machine with ``volfile`` (its text): glfsheal is a
        client of every brick, like a FUSE mount, so it needs no glusterd here. The volfile goes
        to a private temporary file, removed afterwards; ``--nolog`` because a log of ~10 KB per
        run in /var/log/glusterfs would fill dom0's log partition under a monitoring loop."""
        binary = self.glfsheal_path()
        fd, path = tempfile.mkstemp(prefix="xosan-%s-" % volume, suffix=".vol")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(volfile)
            cmd = [binary, volume] + (["split-brain-info"] if split_brain else []) + [
                "--xml", "--nolog", "volfile-path", path]
            what = "glfsheal %s%s" % (volume, " split-brain-info" if split_brain else "")
            try:
                res = self.runner(cmd, timeout=timeout, check=False)
            except CommandTimeout:
                raise GlusterError("%s here did not finish within %s s (bricks of %s slow or not answering)"
                                   % (what, _secs(timeout), volume))
            except CommandFailed as exc:
                raise GlusterError("cannot run %s here: %s" % (what, exc.message))
        finally:
            os.unlink(path)
        out = res.stdout or ""
        if "<cliOutput" not in out:
            raise GlusterError("%s here gave no XML answer (rc %s): %s" % (
                what, res.returncode, " ".join(((res.stderr or "") + out).split())[:300] or "no output"))
        try:
            return parse_heal_info(out)
        except GlusterError as exc:
            if "Not able to fetch volfile" in exc.message:
                # glfsheal's wording when glfs_init fails, also with a volfile given: no brick answered
                raise GlusterError("%s here: %s (with a volfile given this means no brick of the volume "
                                   "answered from this machine)" % (what, exc.message), op_errno=exc.op_errno)
            raise

    def volume_get(self, volume, option="all"):
        # type: (str, str) -> dict
        """{option: OptionValue} of ``volume`` as glusterd has it now, defaults included."""
        try:
            return self.query(["volume", "get", volume, option], parse_volume_get, "volume get")
        except GlusterError as exc:
            if not isinstance(exc, ServerUnreachable) and "does not exist" in exc.message:
                raise VolumeNotFound("volume %r does not exist on %s" % (volume, self.where()))
            raise

    def volume_clients(self, volume):
        # type: (str) -> list
        """[BrickClients]: who each brick process counts connected (also answers over --remote-host)."""
        return self.query(["volume", "status", volume, "clients"], parse_volume_clients, "volume status clients")

    def rebalance_status(self, volume):
        # type: (str) -> RebalanceStatus
        return self.query(["volume", "rebalance", volume, "status"], parse_rebalance_status, "rebalance status")

    # -- the trusted pool ------------------------------------------------------------------------

    def peer_probe(self, address):
        """Start ``address`` joining this node's pool; it is a member only later (see wait_for_peers)."""
        self.command(["peer", "probe", address], "peer probe")

    def peer_detach(self, address, force=False):
        """``force``: detach a peer that is gone, whose bricks were already moved elsewhere."""
        self.command(["peer", "detach", address] + (["force"] if force else []), "peer detach")

    # -- volumes ---------------------------------------------------------------------------------

    def volume_create(self, volume, bricks, layout_args=(), force=False):
        """``layout_args``: the words before the bricks ("replica 3 arbiter 1", "disperse 3 redundancy 1");
        ``force`` lets a set repeat a node (the 2-host layout) or bricks sit on a root file system."""
        self.command(["volume", "create", volume] + list(layout_args) + list(bricks)
                     + (["force"] if force else []), "volume create")

    def volume_set(self, volume, option, value):
        """One option; ``volume`` "all" for cluster-wide ones, ``option`` "group" for a group file."""
        self.command(["volume", "set", volume, option, value], "volume set")

    def volume_start(self, volume, force=False):
        """``force`` also restarts bricks of a started volume that are down."""
        self.command(["volume", "start", volume] + (["force"] if force else []), "volume start")

    def add_brick(self, volume, bricks, replica=None, arbiter=0):
        """Add whole sets; ``replica``/``arbiter`` restate the set shape, or change it (replica 2 -> 3)."""
        args = ["volume", "add-brick", volume]
        if replica:
            args += ["replica", str(replica)] + (["arbiter", str(arbiter)] if arbiter else [])
        self.command(args + list(bricks), "add-brick")

    def remove_brick_force(self, volume, bricks, replica=None):
        """Drop bricks without migrating their data: only for copies other bricks also hold (an
        arbiter, a replica); ``replica`` is the set size after the removal."""
        args = ["volume", "remove-brick", volume] + (["replica", str(replica)] if replica else [])
        self.command(args + list(bricks) + ["force"], "remove-brick")

    def replace_brick(self, volume, old, new):
        """Put ``new`` in the place of ``old`` at once ("commit force", the only form glusterd still
        has): the data reaches it by self-heal, from the other bricks of its set."""
        self.command(["volume", "replace-brick", volume, old, new, "commit", "force"], "replace-brick")

    def rebalance_start(self, volume):
        self.command(["volume", "rebalance", volume, "start"], "rebalance start")

    def heal(self, volume, full=False):
        """Ask the self-heal daemons to heal now: the pending entries (index), or ``full``: every file.
        Answers in prose, so it is not a ``command``; retried only while the lock is held."""
        args = ["volume", "heal", volume] + (["full"] if full else [])
        self._retrying(lambda: self.run_text(args, "volume heal"), lock_held)


# -- bounded waits for cluster state -------------------------------------------------------------
#
# glusterd answers a command once it has started the change, not once the cluster reached the
# state the change leads to: a probed peer joins, a started volume's bricks come up and a
# (re)started glusterd answers some time later. Each step that needs that state waits for it
# here, within a bound, and names what it waited for and what it saw last when the bound passes.


# A query from dom0 to a storage VM's glusterd (``--remote-host``): glusterd answers those
# without the trusted pool, so dom0 needs no key; it refuses anything that changes state.
REMOTE_TIMEOUT = 15


def remote_cli(host, timeout=REMOTE_TIMEOUT):
    # type: (str, float) -> GlusterCLI
    return GlusterCLI(remote_host=host, timeout=timeout)


def _secs(seconds):
    return "%g" % seconds


def poll_until(check, timeout, poll=POLL, clock=None, sleep=None):
    """Call ``check(ask_timeout)`` -> (done, seen) until done or ``timeout`` seconds passed (on a
    monotonic clock); return (done, seen of the last call). Every call gets ``ask_timeout``, the
    time left (at least MIN_ASK), for the commands it runs."""
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    deadline = clock() + timeout
    while True:
        done, seen = check(max(MIN_ASK, deadline - clock()))
        left = deadline - clock()
        if done or left <= 0:
            return done, seen
        sleep(min(poll, left))


def _ask_each(clis, args, parse, what, ask_timeout):
    """{address: parsed answer or the XosanError that came instead} for each node."""
    answers = {}
    for address, cli in clis.items():
        try:
            answers[address] = cli.ask(args, parse, what, timeout=min(cli.timeout, ask_timeout))
        except XosanError as exc:  # glusterd not up yet, SSH not answering, lock held: not yet
            answers[address] = exc
    return answers


def wait_for_glusterd(clis, timeout=GLUSTERD_TIMEOUT, poll=POLL, clock=None, sleep=None):
    """Wait until glusterd answers (``pool list``) on every node of ``clis`` ({address: GlusterCLI}),
    e.g. after its storage VM (re)started; raise ClusterWaitTimeout naming those that do not."""
    def check(ask_timeout):
        answers = _ask_each(clis, ["pool", "list"], parse_pool_list, "pool list", ask_timeout)
        silent = [(a, answers[a]) for a in sorted(answers) if isinstance(answers[a], XosanError)]
        return not silent, silent

    done, silent = poll_until(check, timeout, poll, clock, sleep)
    if not done:
        raise ClusterWaitTimeout(
            "glusterd on %s did not answer within %s s (last seen: %s)" % (
                ", ".join(a for a, _ in silent), _secs(timeout),
                "; ".join("%s: %s" % (a, exc.message) for a, exc in silent)),
            what="glusterd answering", last=silent,
            hint="Check that glusterd runs on those storage nodes (systemctl status glusterd)")


def peer_lag(views, members):
    """What keeps ``members`` from being one pool: [(peer, viewer, seen)] for each member that a
    viewer does not see in 'Peer in Cluster' and connected. ``views``: {viewer address: its pool
    list, or the XosanError asking for it gave}; a viewer that could not be asked gives one entry
    with peer None."""
    # a node lists itself as "localhost" with its uuid: a member that is also a viewer is found by
    # uuid too, should another node know it by another name than the address we have
    uuid_of = {}
    for viewer, peers in views.items():
        if not isinstance(peers, XosanError):
            uuid_of.update((viewer, p.uuid) for p in peers if p.hostname == "localhost" and p.uuid)
    lag = []
    for viewer in sorted(views):
        peers = views[viewer]
        if isinstance(peers, XosanError):
            lag.append((None, viewer, "not asked: %s" % peers.message))
            continue
        for member in members:
            if member == viewer:
                continue
            found = [p for p in peers if p.known_as(member) or (uuid_of.get(member) and p.uuid == uuid_of[member])]
            if not found:
                lag.append((member, viewer, "unknown"))
            elif not found[0].in_cluster:
                lag.append((member, viewer, found[0].describe()))
    return lag


def describe_lag(lag, timeout):
    peers = []
    for peer, _, _ in lag:
        if peer is not None and peer not in peers:
            peers.append(peer)
    seen = []
    for peer in peers:
        where = ", ".join("%s on %s" % (s, v) for p, v, s in lag if p == peer)
        seen.append(where if len(peers) == 1 else "%s: %s" % (peer, where))
    seen += ["%s %s" % (v, s) for p, v, s in lag if p is None]
    if peers:
        head = "peer%s %s did not reach '%s'" % ("s" if len(peers) > 1 else "", ", ".join(peers), PEER_IN_CLUSTER)
    else:
        head = "the pool could not be checked for '%s'" % PEER_IN_CLUSTER
    return "%s within %s s (last seen: %s)" % (head, _secs(timeout), "; ".join(seen))


def wait_for_peers(clis, members=None, timeout=PEER_TIMEOUT, poll=POLL, clock=None, sleep=None):
    """Wait until every node of ``clis`` ({address: GlusterCLI on that node}) sees every other one
    of ``members`` (default: the addresses of ``clis``) as 'Peer in Cluster', connected: glusterd on
    each node must agree before a command that names a new peer runs, as staging runs on all of
    them. Raises ClusterWaitTimeout naming the peers and what each node last saw of them."""
    members = list(members if members is not None else sorted(clis))

    def check(ask_timeout):
        lag = peer_lag(_ask_each(clis, ["pool", "list"], parse_pool_list, "pool list", ask_timeout), members)
        return not lag, lag

    done, lag = poll_until(check, timeout, poll, clock, sleep)
    if not done:
        raise ClusterWaitTimeout(describe_lag(lag, timeout), what=PEER_IN_CLUSTER, last=lag,
                                 hint="Check that the storage nodes reach each other on TCP port 24007 "
                                      "and glusterd's log (/var/log/glusterfs/glusterd.log) on them")


def bricks_offline(wanted, status_bricks):
    """[(brick name, what volume status says of it)] for each of ``wanted`` not online."""
    by_name = dict((b.name, b) for b in status_bricks)
    out = []
    for name in wanted:
        b = by_name.get(name)
        if b is None:
            out.append((name, "not listed"))
        elif not b.online:
            out.append((name, "offline"))
    return out


def wait_for_bricks(cli, volume, bricks=None, timeout=BRICKS_TIMEOUT, poll=POLL, clock=None, sleep=None):
    """Wait until ``volume status`` (asked through ``cli``) shows each brick online: ``bricks`` (names
    "host:/path"), or every brick of the volume. Raises ClusterWaitTimeout naming those that are not."""
    def check(ask_timeout):
        ask_timeout = min(cli.timeout, ask_timeout)
        try:
            wanted = list(bricks) if bricks else [
                b.name for b in cli.ask(["volume", "info", volume], parse_volume_info, "volume info",
                                        timeout=ask_timeout)[0].bricks]
            status, _ = cli.ask(["volume", "status", volume], parse_volume_status, "volume status",
                                timeout=ask_timeout)
        except (XosanError, IndexError) as exc:
            return False, [("", getattr(exc, "message", None) or "no such volume")]
        missing = bricks_offline(wanted, status)
        return not missing, missing

    done, missing = poll_until(check, timeout, poll, clock, sleep)
    if not done:
        named = [n for n, _ in missing if n]
        raise ClusterWaitTimeout(
            "%s of volume %s did not come online within %s s (last seen: %s)" % (
                ("brick%s %s" % ("s" if len(named) > 1 else "", ", ".join(named))) if named else "the bricks",
                volume, _secs(timeout),
                "; ".join(("%s %s" % (n, s)) if n else s for n, s in missing)),
            what="bricks online", last=missing,
            hint="See the brick logs (/var/log/glusterfs/bricks/) on the storage nodes")
