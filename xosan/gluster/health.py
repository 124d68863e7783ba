"""Health of a XOSAN volume: bricks, heals, split-brain, capacity, and one verdict.

The verdict is what an admin (or a monitoring script through the exit code)
needs first: is the SR safe, how many more storage nodes may fail, and if
not healthy, the one-line reason.
"""

from xosan.errors import GlusterError

HEALTHY, DEGRADED, AT_RISK = "healthy", "degraded", "at-risk"
EXIT_CODES = {HEALTHY: 0, DEGRADED: 1, AT_RISK: 2}


class BrickHealth(object):
    def __init__(self, brick, online, size_total=None, size_free=None, heal_pending=None, split_brain=None):
        self.brick = brick  # gluster.Brick from volume info
        self.online = online
        self.size_total = size_total
        self.size_free = size_free
        self.heal_pending = heal_pending
        self.split_brain = split_brain

    name = property(lambda self: self.brick.name)
    host = property(lambda self: self.brick.host)
    is_arbiter = property(lambda self: self.brick.is_arbiter)

    def as_dict(self):
        return {"name": self.name, "host": self.host, "arbiter": self.is_arbiter, "online": self.online,
                "size_total": self.size_total, "size_free": self.size_free,
                "heal_pending": self.heal_pending, "split_brain": self.split_brain}


class VolumeHealth(object):
    def __init__(self, info, peers, bricks, verdict, reason, may_fail, usable_total, usable_free):
        self.info = info
        self.peers = peers
        self.bricks = bricks
        self.verdict = verdict
        self.reason = reason
        self.may_fail = may_fail  # storage nodes that may still fail with I/O going on
        self.usable_total = usable_total
        self.usable_free = usable_free

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
                "capacity": {"total": self.usable_total, "free": self.usable_free}}


def replica_sets(info, bricks):
    """Consecutive groups of bricks that hold the same data (replica or disperse set)."""
    size = info.disperse or info.replica or 1
    return [bricks[i:i + size] for i in range(0, len(bricks), size)]


def set_tolerance(info, group):
    """How many more bricks of ``group`` may fail, whichever they are, with the set still
    writable; -1 when it is not writable now."""
    n = len(group)
    up = sum(1 for b in group if b.online)
    if info.disperse:
        return up - (info.disperse - info.redundancy)
    if n == 1:
        return up - 1
    if n % 2:
        return up - (n // 2 + 1)
    # client quorum "auto" with an even count: more than half, or exactly half including the first brick.
    writable = up > n // 2 or (up == n // 2 and group[0].online)
    return max(0, up - n // 2 - 1) if writable else -1


def nodes_may_fail(info, bricks, limit=3):
    """How many more storage nodes may fail, whichever they are, with every set still writable.
    A node takes all its bricks down at once: on a 2-host pool the arbiter shares a host with a
    data brick, so counting bricks alone would overstate it."""
    import itertools
    online_hosts = sorted(set(b.host for b in bricks if b.online))
    sets = replica_sets(info, bricks)
    if any(set_tolerance(info, g) < 0 for g in sets):
        return 0
    k = 0
    while k < min(limit, len(online_hosts)):
        for failed in itertools.combinations(online_hosts, k + 1):
            trial = [BrickHealth(b.brick, b.online and b.host not in failed) for b in bricks]
            if any(set_tolerance(info, g) < 0 for g in replica_sets(info, trial)):
                return k
        k += 1
    return k


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
    """Verdict from facts already gathered (kept apart from I/O so it is easy to test)."""
    sets = replica_sets(info, bricks)
    tolerances = [set_tolerance(info, g) for g in sets] or [0]
    may_fail = nodes_may_fail(info, bricks)
    down = [b for b in bricks if not b.online]
    heal = sum(b.heal_pending or 0 for b in bricks)
    split = sum(b.split_brain or 0 for b in bricks)
    total, free = _capacity(info, sets)
    if not info.started:
        verdict, reason = AT_RISK, "volume %s is %s: the SR cannot be used" % (info.name, info.status.lower())
    elif split:
        verdict, reason = AT_RISK, "%d file(s) in split-brain: resolve them before anything else" % split
    elif min(tolerances) < 0:
        lost = [g for g, t in zip(sets, tolerances) if t < 0]
        verdict, reason = AT_RISK, "quorum lost in %d replica set(s) (%s down): I/O to part of the volume stops" % (
            len(lost), ", ".join(b.name for g in lost for b in g if not b.online))
    elif down:
        verdict = DEGRADED
        reason = "%d brick(s) down (%s); can lose %s more storage node(s)" % (
            len(down), ", ".join(b.host for b in down), "no" if may_fail == 0 else may_fail)
    elif heal:
        verdict = DEGRADED
        reason = "%d entries waiting for self-heal; until then a node failure may stop I/O" % heal
    else:
        verdict, reason = HEALTHY, "all %d bricks online, nothing to heal; can lose %d storage node(s)" % (
            len(bricks), may_fail)
    return VolumeHealth(info, peers, bricks, verdict, reason, may_fail, total, free)


def collect(cli, volume, with_heal=True):
    # type: (object, str, bool) -> VolumeHealth
    """Ask glusterd (through ``cli``, a GlusterCLI) and assess. ``with_heal=False`` skips the heal
    queries (quorum checks on the attach path do not need them, and dom0 cannot run them)."""
    [info] = cli.volume_info(volume)
    peers = cli.pool_list()
    status = {}
    heal, split = {}, {}
    if info.started:
        bricks_status, _ = cli.volume_status(volume, detail=True)
        status = dict((b.name, b) for b in bricks_status)
        try:
            if with_heal:
                heal = dict((e.brick, e.entries) for e in cli.heal_info(volume))
                split = dict((e.brick, e.entries) for e in cli.heal_info(volume, split_brain=True))
        except GlusterError:
            pass  # heal info needs the self-heal daemon; its absence shows as unknown counts
    bricks = []
    for b in info.bricks:
        st = status.get(b.name)
        bricks.append(BrickHealth(b, bool(st and st.online), st.size_total if st else None,
                                  st.size_free if st else None, heal.get(b.name), split.get(b.name)))
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
             "Peers: %s" % ", ".join("%s%s" % (p.hostname, "" if p.connected else " (disconnected)")
                                     for p in h.peers),
             "Bricks:",
             "  %-44s %-7s %-7s %10s %10s %5s %5s" % ("brick", "role", "state", "size", "free", "heal", "split")]
    for b in h.bricks:
        lines.append("  %-44s %-7s %-7s %10s %10s %5s %5s" % (
            b.name[-44:], "arbiter" if b.is_arbiter else "data", "online" if b.online else "DOWN",
            human_size(b.size_total), human_size(b.size_free),
            "?" if b.heal_pending is None else b.heal_pending,
            "?" if b.split_brain is None else b.split_brain))
    lines.append("Capacity: %s usable, %s free" % (human_size(h.usable_total), human_size(h.usable_free)))
    return "\n".join(lines)
