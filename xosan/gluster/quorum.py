"""GlusterFS's quorum rules, written once: which sets of a volume take writes, and when glusterd
keeps a node's bricks running, for a given set of nodes and bricks down.

Two users: the planner asks what a layout survives before it exists (every combination of
failed nodes), health asks what a live volume can still lose (from the bricks and peers one
glusterd reports). Both describe the volume as a :class:`VolumeQuorum` and ask it.

The rules, as GlusterFS implements them:

- **Client quorum** (``cluster.quorum-type auto``, set by the virt group; AFR's
  ``afr_has_quorum``), per replica set of n bricks: writes need more than half of them up,
  or, for an even n, exactly half including the set's first brick. An arbiter brick counts
  like any other brick.
- **Disperse** sets (EC k+m) need at least k of their k+m bricks (the default
  ``disperse.quorum-count``).
- **Server quorum** (``cluster.server-quorum-type server`` on the volume): glusterd counts
  itself plus every peer that has joined the trusted pool (state "Peer in Cluster"),
  whether or not it holds bricks of this volume, and the connected ones among them. With
  fewer connected than ``ceil(members * cluster.server-quorum-ratio / 100)`` (more than
  half when no ratio is set), it stops every local brick of the volume (and starts them
  again when quorum is back). A node failure is seen by all the others, so when the
  survivors are too few, every brick stops.

Pure logic: node names (any hashable) and booleans; no I/O.
"""

import itertools
import math

SERVER_QUORUM_TYPE = "cluster.server-quorum-type"
SERVER_QUORUM_RATIO = "cluster.server-quorum-ratio"


def client_quorum(up, disperse_data=0):
    # type: (list, int) -> bool
    """Whether one replica or disperse set takes writes. ``up``: one bool per brick of the set,
    in brick order; ``disperse_data``: k for a disperse set, 0 for a replica set."""
    up = [bool(u) for u in up]
    count = sum(up)
    if disperse_data:
        return count >= disperse_data
    n = len(up)
    if n and n % 2 == 0 and count == n // 2:
        return up[0]  # exactly half: only the half with the first ("senior-most") brick
    return count >= n // 2 + 1


def set_margin(up, disperse_data=0):
    # type: (list, int) -> int
    """How many more bricks of the set may fail, whichever they are, with the set still taking
    writes; -1 when it does not take writes now."""
    if not client_quorum(up, disperse_data):
        return -1
    count = sum(1 for u in up if u)
    if disperse_data:
        return count - disperse_data
    # Worst case: the first brick is among the failed ones, so "exactly half" no longer helps.
    return max(0, count - (len(up) // 2 + 1))


def parse_ratio(text):
    """``cluster.server-quorum-ratio`` ("51%", "51") in percent, or None when unset or unreadable
    (glusterd then needs more than half)."""
    if text is None:
        return None
    try:
        value = float(str(text).strip().rstrip("%"))
    except ValueError:
        return None
    return value if 0 <= value <= 100 else None


def server_quorum_need(members, ratio=None):
    # type: (int, float) -> int
    """Nodes that must be connected (each glusterd counting itself) for a trusted pool of
    ``members`` nodes to keep server quorum: ceil(members * ratio / 100), or more than half."""
    if ratio is None:
        return members // 2 + 1
    return int(math.ceil(members * ratio / 100.0))


class VolumeQuorum(object):
    """The quorums of one volume over named nodes.

    ``brick_nodes``: the node of every brick, in volume order (``set_size`` consecutive bricks
    form one replica or disperse set). ``disperse_data``: k for a disperse volume, else 0.
    ``server_quorum``: glusterd enforces server quorum for this volume. ``members``: the nodes
    of the trusted pool (default: the nodes holding bricks); ``ratio``: the server-quorum ratio
    in percent, or None for glusterd's "more than half".

    ``down`` below is a collection of nodes down (bricks and glusterd); ``bricks_down`` one of
    brick indexes (volume order) whose brick process is down while its node may be up.
    """

    def __init__(self, brick_nodes, set_size, disperse_data=0, server_quorum=False, members=None,
                 ratio=None):
        self.brick_nodes = list(brick_nodes)
        self.set_size = max(1, int(set_size or 1))
        self.disperse_data = disperse_data or 0
        self.server_quorum = bool(server_quorum)
        self.members = set(self.brick_nodes if members is None else members)
        self.ratio = ratio
        n = len(self.brick_nodes)
        # brick indexes of each set
        self.sets = [list(range(i, min(i + self.set_size, n))) for i in range(0, n, self.set_size)]

    @property
    def nodes(self):
        """Every node that matters: the trusted pool's and the bricks'."""
        return self.members | set(self.brick_nodes)

    @property
    def need(self):
        """Connected members needed for server quorum."""
        return server_quorum_need(len(self.members), self.ratio)

    def connected(self, down=()):
        return len(self.members - set(down))

    def server_quorum_met(self, down=()):
        """Whether glusterd keeps the bricks running with ``down`` gone (True when not enforced)."""
        return not self.server_quorum or self.connected(down) >= self.need

    def set_up(self, index, down=(), bricks_down=()):
        """One bool per brick of set ``index``: up from the client's view (server quorum aside)."""
        down, bricks_down = set(down), set(bricks_down)
        return [self.brick_nodes[i] not in down and i not in bricks_down for i in self.sets[index]]

    def lost_sets(self, down=(), bricks_down=()):
        """Indexes of the sets without client quorum (server quorum aside)."""
        return [i for i in range(len(self.sets))
                if not client_quorum(self.set_up(i, down, bricks_down), self.disperse_data)]

    def writable(self, down=(), bricks_down=()):
        """Whether every set takes writes: server quorum kept and client quorum in every set."""
        return self.server_quorum_met(down) and not self.lost_sets(down, bricks_down)

    def may_fail(self, down=(), bricks_down=(), limit=None):
        """How many more nodes may fail, whichever they are, with the volume still writable
        (0 when it is not writable now); at most ``limit`` when given."""
        down = set(down)
        if not self.writable(down, bricks_down):
            return 0
        candidates = sorted(self.nodes - down, key=str)
        top = len(candidates) if limit is None else min(limit, len(candidates))
        f = 0
        while f < top and all(self.writable(down | set(failed), bricks_down)
                              for failed in itertools.combinations(candidates, f + 1)):
            f += 1
        return f
