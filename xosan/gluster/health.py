"""Health of a XOSAN volume: bricks, heals, split-brain, capacity, and one verdict.

The verdict is what an admin (or a monitoring script through the exit code)
needs first: is the SR safe, how many more storage nodes may fail, and if
not healthy, the one-line reason. What "safe" means is GlusterFS's quorum rules
(xosan/gluster/quorum.py, shared with the planner): client quorum per replica or
disperse set and, when the volume enforces it, server quorum over the trusted pool
as the glusterd that answered sees it.

A node that comes back is not redundant yet when its brick is "online": until every
client has reconnected to the brick (glusterd says so only in ``volume status VOL
clients``) and the self-heal daemons have copied what changed meanwhile, one more
failure can stop I/O or leave no good copy of the newest data (issue 13 item 6). So
"healthy" needs both: every brick's clients the same as its set's other bricks', and
heal info answered by every brick with 0 entries.
"""

import time

from xosan.errors import GlusterError
from xosan.gluster import quorum
from xosan.gluster.parse import PEER_IN_CLUSTER, Peer

HEALTHY, DEGRADED, AT_RISK = "healthy", "degraded", "at-risk"
EXIT_CODES = {HEALTHY: 0, DEGRADED: 1, AT_RISK: 2}
HEAL_CONNECTED = "Connected"  # heal info's status of a brick it could ask
# A client caught connecting (a glfsheal run reaches the bricks one after the other) must not pass
# for one that is not reconnecting: a gap counts only when a second look this much later has it too.
CLIENTS_RECHECK = 1.0


class BrickHealth(object):
    def __init__(self, brick, online, size_total=None, size_free=None, heal_pending=None, split_brain=None,
                 heal_status=None, clients=None):
        self.brick = brick  # gluster.Brick from volume info
        self.online = online
        self.size_total = size_total
        self.size_free = size_free
        self.heal_pending = heal_pending
        self.split_brain = split_brain
        # heal info's word for the brick ("Connected", "Transport endpoint is not connected", ...);
        # None when heal info was not asked or did not answer.
        self.heal_status = heal_status
        # addresses of the machines connected to the brick (volume status clients); None: unknown
        self.clients = None if clients is None else set(clients)

    name = property(lambda self: self.brick.name)
    host = property(lambda self: self.brick.host)
    is_arbiter = property(lambda self: self.brick.is_arbiter)

    def as_dict(self):
        return {"name": self.name, "host": self.host, "arbiter": self.is_arbiter, "online": self.online,
                "size_total": self.size_total, "size_free": self.size_free,
                "heal_pending": self.heal_pending, "split_brain": self.split_brain,
                "heal_status": self.heal_status,
                "clients": None if self.clients is None else sorted(self.clients)}


class VolumeHealth(object):
    def __init__(self, info, peers, bricks, verdict, reason, may_fail, usable_total, usable_free,
                 server_quorum=None, writable=None):
        self.info = info
        self.peers = peers
        self.bricks = bricks
        self.verdict = verdict
        self.reason = reason
        self.may_fail = may_fail  # storage nodes that may still fail with I/O going on
        self.usable_total = usable_total
        self.usable_free = usable_free
        # None when the volume does not enforce server quorum (or no peers are known), else
        # {"connected", "members", "needed", "met"} as the glusterd that answered counts them.
        self.server_quorum = server_quorum
        # Every set takes writes: server quorum kept (when enforced) and client quorum everywhere.
        self.writable = writable

    @property
    def exit_code(self):
        return EXIT_CODES[self.verdict]

    @property
    def heal_pending(self):
        return sum(b.heal_pending or 0 for b in self.bricks)

    @property
    def split_brain(self):
        return sum(b.split_brain or 0 for b in self.bricks)

    def as_dict(self):
        return {"volume": self.info.name, "type": self.info.type, "status": self.info.status,
                "verdict": self.verdict, "reason": self.reason, "may_fail": self.may_fail,
                "peers": [{"host": p.hostname, "connected": p.connected} for p in self.peers],
                "bricks": [b.as_dict() for b in self.bricks],
                "heal_pending": self.heal_pending, "split_brain": self.split_brain,
                "capacity": {"total": self.usable_total, "free": self.usable_free},
                "server_quorum": dict(self.server_quorum) if self.server_quorum else None}


def replica_sets(info, bricks):
    """Consecutive groups of bricks that hold the same data (replica or disperse set)."""
    size = info.disperse or info.replica or 1
    return [bricks[i:i + size] for i in range(0, len(bricks), size)]


def _disperse_data(info):
    return (info.disperse - info.redundancy) if info.disperse else 0


def set_tolerance(info, group):
    """How many more bricks of ``group`` may fail, whichever they are, with the set still
    writable; -1 when it is not writable now (client quorum; xosan/gluster/quorum.py)."""
    return quorum.set_margin([b.online for b in group], _disperse_data(info))


def server_quorum_enforced(info):
    """The volume has cluster.server-quorum-type server (the virt group sets it)."""
    return (info.options or {}).get(quorum.SERVER_QUORUM_TYPE) == "server"


def _is_member(peer):
    """Counts for server quorum: the answering glusterd itself ("localhost" in pool list) and every
    peer that has joined (connected or not); peers still being probed do not."""
    return peer.hostname == "localhost" or peer.state == PEER_IN_CLUSTER


def _peer_of(brick, peers):
    for p in peers:
        if brick.host_uuid and p.uuid == brick.host_uuid:
            return p
    for p in peers:
        if p.hostname != "localhost" and p.known_as(brick.host):
            return p
    return None


class _LiveQuorum(object):
    """A live volume as quorum.VolumeQuorum sees it: nodes are peer uuids where the answering
    glusterd knows the brick's node, else brick host names. ``down``: member nodes it sees
    disconnected; ``bricks_down``: other offline bricks (by index)."""

    def __init__(self, info, bricks, peers):
        peers = list(peers or [])
        members = [p for p in peers if _is_member(p)]
        keys = []
        for b in bricks:
            peer = _peer_of(b.brick, peers)
            keys.append(peer.uuid if peer is not None and peer.uuid else b.host)
        self.names = dict((k, b.host) for k, b in zip(keys, bricks))
        for p in members:
            self.names.setdefault(p.uuid, p.hostname)
        self.model = quorum.VolumeQuorum(
            keys, info.disperse or info.replica or 1, disperse_data=_disperse_data(info),
            server_quorum=server_quorum_enforced(info) and bool(members),
            members=[p.uuid for p in members] if members else None,
            ratio=quorum.parse_ratio((info.options or {}).get(quorum.SERVER_QUORUM_RATIO)))
        self.down = set(p.uuid for p in members if not p.connected)
        self.bricks_down = set(i for i, (k, b) in enumerate(zip(keys, bricks))
                               if not b.online and k not in self.down)
        self.keys = keys

    def may_fail(self, limit=3):
        return self.model.may_fail(self.down, self.bricks_down, limit=limit)

    @property
    def server_quorum(self):
        if not self.model.server_quorum:
            return None
        return {"connected": self.model.connected(self.down), "members": len(self.model.members),
                "needed": self.model.need, "met": self.model.server_quorum_met(self.down)}

    def down_names(self):
        return sorted(self.names.get(k, str(k)) for k in self.down)


def nodes_may_fail(info, bricks, limit=3, peers=None):
    """How many more storage nodes may fail, whichever they are, with every set still writable.
    A node takes all its bricks down at once: on a 2-host pool the arbiter shares a host with a
    data brick, so counting bricks alone would overstate it. With ``peers`` (pool list of the
    glusterd that answered) and server quorum on the volume, a node failure also counts against
    server quorum: disconnected peers, with bricks or not, leave less margin."""
    return _LiveQuorum(info, bricks, peers).may_fail(limit)


def missing_clients(info, rows):
    # type: (object, list) -> set
    """{(client address, brick index)}: a client connected to some online brick of a set but not
    to this online brick of the same set. ``rows`` are (online, addresses or None) in volume info's
    brick order. Every AFR or EC client (a FUSE mount, a self-heal daemon) connects to every brick of
    every set, so a gap is a client that has not (re)connected yet: it writes to the set without
    that brick and marks it stale again."""
    size = info.disperse or info.replica or 1
    missing = set()
    for start in range(0, len(rows), size):
        known = [(start + i, addrs) for i, (online, addrs) in enumerate(rows[start:start + size])
                 if online and addrs is not None]
        if len(known) < 2:
            continue
        for client in set().union(*[a for _, a in known]):
            missing.update((client, i) for i, a in known if client not in a)
    return missing


def _client_reason(bricks, missing):
    by_brick = {}
    for client, i in missing:
        by_brick.setdefault(i, []).append(client)
    parts = []
    for i in sorted(by_brick):
        clients = sorted(by_brick[i])
        parts.append("%s not (re)connected to brick %s" % (
            ("client %s" % clients[0]) if len(clients) == 1 else "%d clients (%s)" % (len(clients), ", ".join(clients)),
            bricks[i].name))
    return "; ".join(parts) + " (connected to the other bricks of its set: the brick is not used by them yet)"


def _behind(info, bricks):
    """Indices of bricks that heal info shows behind: online, 0 entries of their own, while another
    brick of their set lists entries to heal (heal info lists a file under the bricks that hold the
    good copy and blame the others)."""
    size = info.disperse or info.replica or 1
    behind = []
    for start in range(0, len(bricks), size):
        group = list(enumerate(bricks[start:start + size], start))
        if any(b.heal_pending for _, b in group):
            behind += [i for i, b in group if b.online and b.heal_pending == 0]
    return behind


def _capacity(info, sets):
    total = free = 0
    for group in sets:
        data = [b for b in group if not b.is_arbiter and b.size_total is not None]
        if not data:
            continue
        factor = (info.disperse - info.redundancy) if info.disperse else 1
        total += min(b.size_total for b in data) * factor
        free += min(b.size_free for b in data) * factor
    return total, free


def assess(info, peers, bricks):
    # type: (object, list, list) -> VolumeHealth
    """Verdict from facts already gathered (kept apart from I/O so it is easy to test).

    ``peers`` is the pool list of the glusterd that answered: with server quorum on the volume
    (cluster.server-quorum-type server), a node that sees too few peers stops its bricks, so
    the verdict counts them (the bricks may still be listed online for a moment)."""
    peers = list(peers or [])
    sets = replica_sets(info, bricks)
    tolerances = [set_tolerance(info, g) for g in sets] or [0]
    live = _LiveQuorum(info, bricks, peers)
    sq = live.server_quorum
    may_fail = live.may_fail()
    down = [b for b in bricks if not b.online]
    heal = sum(b.heal_pending or 0 for b in bricks)
    split = sum(b.split_brain or 0 for b in bricks)
    missing = missing_clients(info, [(b.online, b.clients) for b in bricks])
    unheard = [b for b in bricks if b.online and b.heal_status not in (None, HEAL_CONNECTED)]
    total, free = _capacity(info, sets)
    writable = bool(info.started) and (sq is None or sq["met"]) and min(tolerances) >= 0
    if not info.started:
        verdict, reason = AT_RISK, "volume %s is %s: the SR cannot be used" % (info.name, info.status.lower())
    elif split:
        verdict, reason = AT_RISK, "%d file(s) in split-brain: resolve them before anything else" % split
    elif sq is not None and not sq["met"]:
        side = sorted(set(b.host for b, k in zip(bricks, live.keys) if k not in live.down))
        verdict = AT_RISK
        reason = ("server quorum lost: %d of %d storage nodes connected (%s down), %d needed; glusterd stops "
                  "the bricks %s: I/O stops" % (
                      sq["connected"], sq["members"], ", ".join(live.down_names()), sq["needed"],
                      "on %s" % ", ".join(side) if side else "of the nodes left"))
    elif min(tolerances) < 0:
        lost = [g for g, t in zip(sets, tolerances) if t < 0]
        verdict, reason = AT_RISK, "quorum lost in %d replica set(s) (%s down): I/O to part of the volume stops" % (
            len(lost), ", ".join(b.name for g in lost for b in g if not b.online))
    elif down:
        verdict = DEGRADED
        reason = "%d brick(s) down (%s); can lose %s more storage node(s)" % (
            len(down), ", ".join(b.host for b in down), "no" if may_fail == 0 else may_fail)
    elif sq is not None and live.down:
        verdict = DEGRADED
        reason = "%d peer(s) disconnected (%s): server quorum has %d of %d storage nodes, %d needed; can lose %s " \
                 "more storage node(s)" % (len(live.down), ", ".join(live.down_names()), sq["connected"],
                                           sq["members"], sq["needed"], "no" if may_fail == 0 else may_fail)
    elif missing or unheard or heal:
        # Back but not redundant yet: what one more failure would leave counts the bricks these
        # clients do not use, and the copies still behind, as gone.
        extra = set(i for _, i in missing) | set(_behind(info, bricks))
        if extra:
            may_fail = min(may_fail, live.model.may_fail(live.down, live.bricks_down | extra, limit=3))
        parts = []
        if missing:
            parts.append(_client_reason(bricks, missing))
        if unheard:
            parts.append("heal info cannot reach brick %s (%s): its heal state is unknown" % (
                ", ".join(b.name for b in unheard), "; ".join(sorted(set(b.heal_status for b in unheard)))))
        if heal:
            behind = _behind(info, bricks)
            parts.append("heal of %d entries pending%s; until then a node failure may stop I/O" % (
                heal, (" (brick %s behind)" % ", ".join(bricks[i].name for i in behind)) if behind else ""))
        verdict = DEGRADED
        reason = "%s; can lose %s more storage node(s)" % ("; ".join(parts), "no" if may_fail == 0 else may_fail)
    else:
        verdict, reason = HEALTHY, "all %d bricks online, nothing to heal; can lose %d storage node(s)" % (
            len(bricks), may_fail)
    return VolumeHealth(info, peers, bricks, verdict, reason, may_fail, total, free, sq, writable)


def without_nodes(h, hosts):
    # type: (VolumeHealth, list) -> VolumeHealth
    """The verdict ``h`` would become with the storage nodes ``hosts`` (brick host names) gone:
    their bricks offline and their peers disconnected, so server quorum counts them too (what
    a planned shutdown of those nodes leaves)."""
    hosts = set(hosts)
    uuids = set(b.brick.host_uuid for b in h.bricks if b.host in hosts and b.brick.host_uuid)
    peers = [Peer(p.uuid, p.hostname, False, p.state, p.hostnames)
             if p.uuid in uuids or any(p.known_as(x) for x in hosts) else p
             for p in h.peers]
    bricks = [BrickHealth(b.brick, b.online and b.host not in hosts, b.size_total, b.size_free,
                          b.heal_pending, b.split_brain, b.heal_status, b.clients) for b in h.bricks]
    return assess(h.info, peers, bricks)


def _ask_clients(ask, info, volume, online, sleep):
    """{brick name: addresses} from ``volume status clients``, asked again after CLIENTS_RECHECK when
    a gap shows; a gap seen only once is taken for a client still connecting and filled in."""
    def look():
        answer = dict((c.name, c.addresses) for c in ask(volume))
        rows = [(online.get(b.name, False), answer.get(b.name)) for b in info.bricks]
        return answer, missing_clients(info, rows)

    answer, gaps = look()
    if gaps:
        sleep(CLIENTS_RECHECK)
        answer, again = look()
        for client, i in again - gaps:
            answer.setdefault(info.bricks[i].name, set()).add(client)
    return answer


def collect(cli, volume, with_heal=True, sleep=time.sleep):
    # type: (object, str, bool, object) -> VolumeHealth
    """Ask glusterd (through ``cli``, a GlusterCLI) and assess. ``with_heal=False`` skips the heal
    and client queries (quorum checks on the attach path do not need them, and dom0 cannot run heal
    info). A ``cli`` without ``volume_clients`` (the host plugin's one-shot remote asker) leaves
    the clients unknown: the verdict then cannot see a client that has not reconnected."""
    [info] = cli.volume_info(volume)
    peers = cli.pool_list()
    status = {}
    heal, split, heal_status, clients = {}, {}, {}, {}
    if info.started:
        bricks_status, _ = cli.volume_status(volume, detail=True)
        status = dict((b.name, b) for b in bricks_status)
        try:
            if with_heal:
                entries = cli.heal_info(volume)
                heal = dict((e.brick, e.entries) for e in entries)
                heal_status = dict((e.brick, e.status) for e in entries)
                split = dict((e.brick, e.entries) for e in cli.heal_info(volume, split_brain=True))
        except GlusterError:
            pass  # heal info needs the self-heal daemon; its absence shows as unknown counts
        ask = getattr(cli, "volume_clients", None)
        if with_heal and ask is not None:
            online = dict((name, st.online) for name, st in status.items())
            try:
                clients = _ask_clients(ask, info, volume, online, sleep)
            except GlusterError:
                clients = {}  # unknown, as for a CLI that cannot ask
    bricks = []
    for b in info.bricks:
        st = status.get(b.name)
        bricks.append(BrickHealth(b, bool(st and st.online), st.size_total if st else None,
                                  st.size_free if st else None, heal.get(b.name), split.get(b.name),
                                  heal_status.get(b.name), clients.get(b.name)))
    return assess(info, peers, bricks)


def human_size(n):
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%.1f %s" % (n, unit)) if unit != "B" else "%d B" % n
        n /= 1024.0


def render(h):
    # type: (VolumeHealth) -> str
    """One screen: verdict first, then peers, bricks and capacity."""
    lines = ["Volume %s (%s, %s): %s" % (h.info.name, h.info.type, h.info.status, h.verdict.upper()),
             "  %s" % h.reason,
             "Peers: %s%s" % (", ".join("%s%s" % (p.hostname, "" if p.connected else " (disconnected)")
                                        for p in h.peers),
                              "" if not h.server_quorum else "; server quorum %s: %d of %d connected, %d needed" % (
                                  "kept" if h.server_quorum["met"] else "LOST", h.server_quorum["connected"],
                                  h.server_quorum["members"], h.server_quorum["needed"])),
             "Bricks:",
             "  %-44s %-7s %-7s %10s %10s %5s %5s %7s" % ("brick", "role", "state", "size", "free", "heal", "split",
                                                          "clients")]
    for b in h.bricks:
        lines.append("  %-44s %-7s %-7s %10s %10s %5s %5s %7s" % (
            b.name[-44:], "arbiter" if b.is_arbiter else "data", "online" if b.online else "DOWN",
            human_size(b.size_total), human_size(b.size_free),
            "?" if b.heal_pending is None else b.heal_pending,
            "?" if b.split_brain is None else b.split_brain,
            "?" if b.clients is None else len(b.clients)))
    lines.append("Capacity: %s usable, %s free" % (human_size(h.usable_total), human_size(h.usable_free)))
    return "\n".join(lines)
