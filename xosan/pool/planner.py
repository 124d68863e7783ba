"""The volume layout planner: which bricks go where, for one GlusterFS volume of VM images.

Input: the storage nodes, one per XenServer host (each is one failure domain), plus
optionally one *witness* outside the pool that holds only arbiter bricks. Output: a
:class:`Layout` that says what to pass to ``gluster volume create``, what capacity the
VMs get, how many nodes may fail with I/O going on, and the caveats for ``xosan plan``.

Pure logic, runs in dom0 (Python 3.6): no I/O, no gluster calls. docs/layouts.md
explains every layout; the numbers it quotes come from the constants below.

Invariant, checked on every plan (:func:`check_layout`): no replica or disperse set
holds two bricks on the same node. The single documented exception is the 2-host pool
without a witness, whose arbiter brick must share a node with one data brick.
"""

import itertools
import math

from xosan import facts
from xosan.errors import XosanError
from xosan.gluster import quorum
from xosan.gluster.options import VM_IMAGE_OPTIONS

KiB = 1024
MiB = 1024 ** 2
GiB = 1024 ** 3
TiB = 1024 ** 4

MIN_BRICK_BYTES = GiB        # no brick (input or planned) below this
MAX_DATA_NODES = 16          # storage hosts XOSAN plans for (one storage VM each)
MAX_BRICKS_PER_NODE = 3      # each brick is one glusterfsd process in a small (<= 1 GiB RAM) storage VM

# Arbiter bricks hold names, directories and xattrs, no file data: GlusterFS's sizing
# guidance is ~4 KiB per file. With sharding every file is at most one shard
# (features.shard-block-size, 64 MB in volume_options), so a full data brick of size S
# holds about S / 64 MiB files -> 4 KiB * S / 64 MiB = S / 16384. We reserve S / 200
# (0.5 %), 80 times that, so sparse shards (thin VHDs written in small scattered pieces)
# still fit down to an average of ~800 KiB written per shard; never less than 1 GiB
# (room for ~260 000 files at 4 KiB each).
ARBITER_MIN_BYTES = GiB
ARBITER_DATA_RATIO = 200

ROLE_DATA = "data"
ROLE_ARBITER = "arbiter"

LAYOUT_CHOICES = facts.LAYOUTS

KIND_REPLICA2_ARBITER = "replica2-arbiter"
KIND_REPLICA3 = "replica3"
KIND_REPLICA3_ARBITER = "replica3-arbiter"
KIND_DIST_REPLICA3 = "distributed-replica3"
KIND_DIST_REPLICA3_ARBITER = "distributed-replica3-arbiter"
KIND_DISPERSE = "disperse"
KIND_DIST_DISPERSE = "distributed-disperse"

# Default erasure codes, best first. Data fragments a power of two (stripe = k * 512 B
# divides 4 KiB writes), two redundancy fragments once there are 6 or more hosts.
DISPERSE_DEFAULTS_SMALL = ((2, 1),)           # 3 to 5 hosts
DISPERSE_DEFAULTS_LARGE = ((4, 2), (2, 1))    # 6 hosts and more
DISPERSE_LARGE_FROM = 6

DEFAULT_SERVER_QUORUM_RATIO = 51


class PlanError(XosanError):
    """The nodes and options given cannot make a safe layout; the hint says what to change."""


def _server_quorum_ratio():
    """The cluster.server-quorum-ratio XOSAN sets (percent), read from volume_options."""
    for name, value, _ in VM_IMAGE_OPTIONS:
        if name == quorum.SERVER_QUORUM_RATIO:
            ratio = quorum.parse_ratio(value)
            if ratio is not None:
                return ratio
    return float(DEFAULT_SERVER_QUORUM_RATIO)


def format_bytes(n):
    # type: (int) -> str
    if n >= TiB:
        return "%.2f TiB" % (float(n) / TiB)
    return "%.1f GiB" % (float(n) / GiB)


def _floor_mib(n):
    return int(n) // MiB * MiB


def _ceil_mib(n):
    return -(-int(n) // MiB) * MiB


def arbiter_bytes(data_bytes):
    # type: (int) -> int
    """Size of the arbiter brick for a replica set whose data bricks are ``data_bytes``."""
    return max(ARBITER_MIN_BYTES, _ceil_mib(-(-int(data_bytes) // ARBITER_DATA_RATIO)))


def _largest_fitting(fits, limit):
    """Largest MiB multiple s <= limit with fits(s); fits must be monotone (true, then false). 0 if none."""
    lo, hi = 0, int(limit) // MiB
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid * MiB):
            lo = mid
        else:
            hi = mid - 1
    return lo * MiB


def _largest_data_size(budget, data_per_node, with_arbiter):
    # type: (int, int, bool) -> int
    """Largest MiB-aligned data brick size s with data_per_node*s (+ arbiter_bytes(s)) <= budget."""
    return _largest_fitting(
        lambda s: data_per_node * s + (arbiter_bytes(s) if with_arbiter else 0) <= budget, budget)


class NodeSpec(object):
    """One storage node = one failure domain: a host's storage VM, or the witness.

    ``brick_bytes`` is the size of the node's brick file system (its data disk); all the
    node's bricks are sub-directories of it and share that space.
    """

    def __init__(self, name, address, brick_bytes, witness=False):
        # type: (str, str, int, bool) -> None
        if not isinstance(name, str) or not name.strip():
            raise PlanError("a storage node has no name", "Give every node a non-empty name (e.g. the host's name)")
        if not isinstance(address, str) or not address.strip():
            raise PlanError("storage node %s has no address" % name,
                            "Give it its storage-network IP address or host name")
        if isinstance(brick_bytes, bool) or not isinstance(brick_bytes, int):
            raise PlanError("storage node %s: brick size %r is not a whole number of bytes" % (name, brick_bytes),
                            "Give brick_bytes as an integer, e.g. 100 * 1024 ** 3 for 100 GiB")
        self.name = name.strip()
        self.address = address.strip()
        self.brick_bytes = brick_bytes
        self.witness = bool(witness)

    def __repr__(self):
        return "NodeSpec(%r, %r, %d%s)" % (self.name, self.address, self.brick_bytes,
                                           ", witness=True" if self.witness else "")


class BrickSpec(object):
    """One brick of the plan: a sub-directory ``subdir`` of ``node``'s brick file system.

    ``role`` is "data" or "arbiter". Disperse bricks are all "data": GlusterFS's erasure
    code has no dedicated parity bricks, every brick holds one encoded fragment of each
    stripe and any k of the k+m fragments rebuild it. ``size_bytes`` is the space the plan
    counts on for this brick (sub-bricks of a node share one file system; nothing enforces
    it). ``set_index`` is the replica/disperse set the brick belongs to.
    """

    def __init__(self, node, role, subdir, size_bytes, set_index):
        # type: (NodeSpec, str, str, int, int) -> None
        self.node = node
        self.role = role
        self.subdir = subdir
        self.size_bytes = size_bytes
        self.set_index = set_index

    def __repr__(self):
        return "BrickSpec(%s:%s, %s, %s, set %d)" % (self.node.name, self.subdir, self.role,
                                                     format_bytes(self.size_bytes), self.set_index)


class Layout(object):
    """A planned volume layout.

    Attributes:
      kind: one of the KIND_* names.
      create_args: words between ``gluster volume create NAME`` and the brick list.
      bricks: BrickSpecs in ``gluster volume create`` order: ``set_size`` consecutive
        bricks form one replica/disperse set, an arbiter always last in its set.
      set_size: bricks per set (3 for replica layouts, k+m for disperse).
      disperse: (k, m) for disperse layouts, else None.
      nodes: the data nodes (hosts); witness: the witness node or None.
      usable_bytes: capacity the VMs can use (sum over sets of the data a set stores).
      hosts_may_fail: how many nodes (witness included) may be down at any one time with
        I/O going on, whichever they are; worked out by trying every combination against
        :meth:`io_continues_without`.
      data_survives: how many nodes may be lost at once without losing data (I/O may stop).
      write_amplification: bytes written to bricks per byte a VM writes, counting file data
        only: an arbiter brick receives every write call but stores none of its data (it
        only updates the file's metadata and xattrs), so it counts 0. Replica 3: 3.0;
        2 copies + arbiter: 2.0; disperse k+m: (k+m)/k.
      warnings: sentences for ``xosan plan``.
      force: ``gluster volume create`` needs a trailing ``force`` (a set repeats a node;
        only the 2-host pool without witness).
      volume_options: (option, value, why) to set on top of volume_options' set.
    """

    def __init__(self, kind, create_args, bricks, set_size, nodes, witness=None, disperse=None,
                 usable_bytes=0, write_amplification=1.0, warnings=None, force=False,
                 volume_options=None, shared_arbiter=False):
        self.kind = kind
        self.create_args = list(create_args)
        self.bricks = list(bricks)
        self.set_size = set_size
        self.nodes = list(nodes)
        self.witness = witness
        self.disperse = disperse
        self.usable_bytes = usable_bytes
        self.write_amplification = write_amplification
        self.warnings = list(warnings or [])
        self.force = force
        self.volume_options = list(volume_options or [])
        # The 2-host exception to the failure-domain rule: the arbiter shares a data node.
        self.shared_arbiter = shared_arbiter
        # Worked out from the failure model, not declared: see io_continues_without.
        self.hosts_may_fail = self.quorum().may_fail()
        self.data_survives = self._max_failures(self.data_survives_without)

    # -- structure ----------------------------------------------------------------------

    @property
    def all_nodes(self):
        return self.nodes + ([self.witness] if self.witness is not None else [])

    @property
    def set_count(self):
        return len(self.bricks) // self.set_size if self.set_size else 0

    @property
    def sets(self):
        """The replica/disperse sets, each a list of BrickSpecs in brick order."""
        return [self.bricks[i:i + self.set_size] for i in range(0, len(self.bricks), self.set_size)]

    @property
    def raw_bytes(self):
        return sum(n.brick_bytes for n in self.all_nodes)

    def node_bricks(self, node):
        return [b for b in self.bricks if b.node is node]

    def node_bytes(self, node):
        """Space the plan uses on ``node``'s brick file system."""
        return sum(b.size_bytes for b in self.node_bricks(node))

    # -- commands -----------------------------------------------------------------------

    def brick_args(self, path_for):
        """``["addr:/path", ...]`` in create order; ``path_for(brick)`` is the brick directory on its node."""
        return ["%s:%s" % (b.node.address, path_for(b)) for b in self.bricks]

    def volume_create_args(self, volume, path_for):
        """The whole gluster CLI argument list for ``gluster volume create``."""
        args = ["volume", "create", volume] + self.create_args + self.brick_args(path_for)
        if self.force:
            args.append("force")
        return args

    # -- failures -----------------------------------------------------------------------

    @property
    def server_quorum(self):
        return not any(name == quorum.SERVER_QUORUM_TYPE and value == "none"
                       for name, value, _ in self.volume_options)

    def quorum(self):
        """The volume's quorums (xosan/gluster/quorum.py) over this layout's node names: client
        quorum per set, server quorum with XOSAN's ratio unless this layout turns it off, the
        trusted pool being exactly this layout's nodes (server quorum counts every peer)."""
        return quorum.VolumeQuorum([b.node.name for b in self.bricks], self.set_size,
                                   disperse_data=self.disperse[0] if self.disperse else 0,
                                   server_quorum=self.server_quorum,
                                   members=[n.name for n in self.all_nodes], ratio=_server_quorum_ratio())

    def io_continues_without(self, failed):
        """Whether VM I/O goes on with the nodes named in ``failed`` down (heals complete before).

        Asks :meth:`quorum`: server quorum (a node's bricks stop when it sees fewer than
        ceil(nodes * ratio) nodes, itself included) unless this layout turns it off, client
        quorum "auto" (2 of the 3 bricks of a replica set), and a disperse set needing k of
        its k+m bricks.
        """
        failed = set(failed)
        names = set(n.name for n in self.all_nodes)
        unknown = failed - names
        if unknown:
            raise PlanError("no storage node named %s in this layout" % ", ".join(sorted(unknown)))
        return self.quorum().writable(failed)

    def _max_failures(self, survives):
        """Largest f such that ``survives`` holds for every set of f failed nodes."""
        names = [n.name for n in self.all_nodes]
        f = 0
        while f < len(names) and all(survives(c) for c in itertools.combinations(names, f + 1)):
            f += 1
        return f

    def data_survives_without(self, failed):
        """Whether every set still has its data with the nodes in ``failed`` lost for good."""
        failed = set(failed)
        for brick_set in self.sets:
            up = [b for b in brick_set if b.node.name not in failed]
            if self.disperse:
                if len(up) < self.disperse[0]:
                    return False
            elif not any(b.role == ROLE_DATA for b in up):
                return False
        return True

    # -- reporting ----------------------------------------------------------------------

    def describe(self):
        """A few lines for humans (``xosan plan``)."""
        lines = []
        shape = "%d x (%s)" % (self.set_count, self._set_shape())
        lines.append("Layout %s: %s = %d bricks on %d nodes (gluster volume create VOL %s <bricks>%s)" % (
            self.kind, shape, len(self.bricks), len(self.all_nodes), " ".join(self.create_args),
            " force" if self.force else ""))
        lines.append("Usable %s of %s raw; %s; VM writes x%s on the bricks" % (
            format_bytes(self.usable_bytes), format_bytes(self.raw_bytes), self._failure_phrase(),
            ("%.2f" % self.write_amplification).rstrip("0").rstrip(".")))
        for i, brick_set in enumerate(self.sets):
            lines.append("  set %d: %s" % (i + 1, "  ".join(
                "%s:%s %s %s" % (b.node.name, b.subdir, b.role, format_bytes(b.size_bytes)) for b in brick_set)))
        for node in self.all_nodes:
            bricks = self.node_bricks(node)
            roles = {}
            for b in bricks:
                roles[b.role] = roles.get(b.role, 0) + 1
            lines.append("  %s%s (%s): %s, %s of %s" % (
                node.name, " [witness]" if node.witness else "", node.address,
                " + ".join("%d %s" % (roles[r], r) for r in (ROLE_DATA, ROLE_ARBITER) if r in roles),
                format_bytes(self.node_bytes(node)), format_bytes(node.brick_bytes)))
        for name, value, why in self.volume_options:
            lines.append("Option %s=%s: %s" % (name, value, why))
        for w in self.warnings:
            lines.append("Warning: %s" % w)
        return "\n".join(lines)

    def _set_shape(self):
        if self.disperse:
            return "%d + %d" % self.disperse
        if any(b.role == ROLE_ARBITER for b in self.bricks):
            return "2 + 1"
        return str(self.set_size)

    def _failure_phrase(self):
        if self.hosts_may_fail == 0:
            return "losing one node can stop I/O (see warnings)"
        return "any %d node%s may fail" % (self.hosts_may_fail, "" if self.hosts_may_fail == 1 else "s")

    def to_dict(self):
        """Plain data (JSON-ready) for the deployment record."""
        return {
            "kind": self.kind, "create_args": list(self.create_args), "set_size": self.set_size,
            "disperse": list(self.disperse) if self.disperse else None,
            "usable_bytes": self.usable_bytes, "hosts_may_fail": self.hosts_may_fail,
            "data_survives": self.data_survives, "write_amplification": self.write_amplification,
            "force": self.force, "warnings": list(self.warnings),
            "volume_options": [[n, v] for n, v, _ in self.volume_options],
            "bricks": [{"node": b.node.name, "address": b.node.address, "role": b.role, "subdir": b.subdir,
                        "size_bytes": b.size_bytes, "set": b.set_index} for b in self.bricks],
        }


# -- checks -------------------------------------------------------------------------------

def check_layout(layout):
    """Internal consistency check; raises PlanError (a planner bug) when the plan is unsafe.

    - brick count = sets * set size; every set of the right shape (arbiter last);
    - no set holds two bricks on one node; the only exception is ``shared_arbiter`` (2 hosts,
      no witness), where the arbiter may share the node of exactly one data brick;
    - every node holds at least one brick, sub-directories are unique per node;
    - no brick below MIN_BRICK_BYTES, no node holds more than its brick file system.
    """
    def bug(msg):
        raise PlanError("internal planner error (%s layout): %s" % (layout.kind, msg),
                        "This is a bug in xosan/pool/planner.py; please report it with the node list")

    n = layout.set_size
    if n < 2 or not layout.bricks or len(layout.bricks) % n:
        bug("%d bricks cannot form sets of %d" % (len(layout.bricks), n))
    for i, brick_set in enumerate(layout.sets):
        if any(b.set_index != i for b in brick_set):
            bug("set %d holds bricks labelled for another set" % (i + 1))
        roles = [b.role for b in brick_set]
        if ROLE_ARBITER in roles and roles != [ROLE_DATA] * (n - 1) + [ROLE_ARBITER]:
            bug("set %d has roles %s; an arbiter must be the last of 2 data bricks" % (i + 1, roles))
        data_nodes = [id(b.node) for b in brick_set if b.role == ROLE_DATA]
        if len(set(data_nodes)) != len(data_nodes):
            bug("set %d holds two data bricks on one node" % (i + 1))
        for b in brick_set:
            if b.role == ROLE_ARBITER and id(b.node) in data_nodes:
                if not (layout.shared_arbiter and len(layout.nodes) == 2 and layout.witness is None):
                    bug("set %d holds its arbiter on the node of one of its data bricks (%s)" % (i + 1, b.node.name))
    seen = set()
    for b in layout.bricks:
        key = (id(b.node), b.subdir)
        if key in seen:
            bug("two bricks in %s:%s" % (b.node.name, b.subdir))
        seen.add(key)
        if b.size_bytes < MIN_BRICK_BYTES:
            bug("brick %s:%s is %s, below %s" % (b.node.name, b.subdir, format_bytes(b.size_bytes),
                                                 format_bytes(MIN_BRICK_BYTES)))
    for node in layout.all_nodes:
        if not layout.node_bricks(node):
            bug("node %s holds no brick" % node.name)
        if layout.node_bytes(node) > node.brick_bytes:
            bug("node %s is given %s of bricks on a %s file system" % (
                node.name, format_bytes(layout.node_bytes(node)), format_bytes(node.brick_bytes)))
        if len(layout.node_bricks(node)) > MAX_BRICKS_PER_NODE:
            bug("node %s holds %d bricks" % (node.name, len(layout.node_bricks(node))))
    return layout


def _validate_nodes(nodes):
    nodes = list(nodes)
    for n in nodes:
        if not isinstance(n, NodeSpec):
            raise PlanError("%r is not a NodeSpec" % (n,), "Pass a list of xosan.planner.NodeSpec")
    names, addrs = {}, {}
    for n in nodes:
        key = n.name.lower()
        if key in names:
            raise PlanError("two storage nodes are named %s" % n.name,
                            "Give every node its own name (one node per host, plus at most one witness)")
        names[key] = n
        akey = n.address.lower()
        if akey in addrs:
            raise PlanError("storage nodes %s and %s have the same address %s" % (addrs[akey].name, n.name, n.address),
                            "Each node is a separate machine with its own storage-network address; "
                            "fix the address of one of them")
        addrs[akey] = n
    for n in nodes:
        if n.brick_bytes < MIN_BRICK_BYTES:
            raise PlanError("storage node %s has a %s brick, below the %s minimum" % (
                n.name, format_bytes(n.brick_bytes) if n.brick_bytes > 0 else "%d-byte" % n.brick_bytes,
                format_bytes(MIN_BRICK_BYTES)),
                "Give %s a brick of at least 1 GiB (more free space on the host's local SR)" % n.name)
    witnesses = [n for n in nodes if n.witness]
    data = [n for n in nodes if not n.witness]
    if len(witnesses) > 1:
        raise PlanError("%d witness nodes given (%s); a volume uses at most one" % (
            len(witnesses), ", ".join(w.name for w in witnesses)), "Keep one witness and remove the others")
    if len(data) < 2:
        raise PlanError("%d host%s with storage given; XOSAN needs at least 2" % (
            len(data), "" if len(data) == 1 else "s"),
            "Add a storage node for a second host (a witness alone holds no data)")
    if len(data) > MAX_DATA_NODES:
        raise PlanError("%d hosts with storage given; XOSAN plans at most %d" % (len(data), MAX_DATA_NODES),
                        "Use %d of the hosts as storage nodes; the others can still run VMs on the SR"
                        % MAX_DATA_NODES)
    return data, (witnesses[0] if witnesses else None)


# -- planning -----------------------------------------------------------------------------

def plan_layout(nodes, layout="auto", disperse_data=None, disperse_redundancy=None):
    """Plan the volume for ``nodes`` (NodeSpecs; at most one with witness=True).

    ``layout``: "auto" (2 hosts: replica2-arbiter, 3+: replica3-arbiter), "replica2-arbiter",
    "replica3", "replica3-arbiter" or "disperse" (``disperse_data``/``disperse_redundancy``
    = k/m, both or neither; default 2+1 below 6 hosts, 4+2 from 6 when it fits).
    Raises PlanError when no safe layout exists; the hint says what to change.
    """
    if layout not in LAYOUT_CHOICES:
        raise PlanError("unknown layout %r" % (layout,), "Choose one of: %s" % ", ".join(LAYOUT_CHOICES))
    data, witness = _validate_nodes(nodes)
    count = len(data)
    if layout != "disperse" and (disperse_data is not None or disperse_redundancy is not None):
        raise PlanError("disperse data/redundancy counts given for layout %s" % layout,
                        "They apply only to layout disperse: drop them or choose layout disperse")
    if layout == "auto":
        layout = "replica2-arbiter" if count == 2 else "replica3-arbiter"

    if layout == "replica2-arbiter":
        if count != 2:
            raise PlanError("layout replica2-arbiter is for exactly 2 hosts, not %d" % count,
                            "With %d hosts choose replica3-arbiter (or auto), replica3 or disperse" % count)
        plan = _plan_two_hosts(data, witness)
    elif layout in ("replica3", "replica3-arbiter"):
        if witness is not None:
            if layout == "replica3":
                raise PlanError("layout replica3 keeps three full copies on the hosts and has no arbiter "
                                "brick for the witness %s" % witness.name,
                                "Remove the witness, or use replica2-arbiter on 2 hosts with the witness")
            raise PlanError("a witness (%s) is only used by a 2-host pool; with %d hosts the arbiter bricks "
                            "live on the hosts" % (witness.name, count), "Remove the witness from the node list")
        if count < 3:
            raise PlanError("layout %s needs at least 3 hosts, %d given" % (layout, count),
                            "With 2 hosts use replica2-arbiter (or auto), best with a witness")
        if layout == "replica3":
            plan = _plan_replica3(data)
        elif count == 3:
            plan = _plan_replica3_arbiter_3(data)
        else:
            plan = _plan_chained_arbiter(data)
    else:
        plan = _plan_disperse(data, witness, disperse_data, disperse_redundancy)
    return check_layout(plan)


def _too_small(node, kind, need):
    return PlanError("storage node %s's %s brick is too small for layout %s" % (
        node.name, format_bytes(node.brick_bytes), kind),
        "Give every node at least %s, or choose another layout" % format_bytes(need))


def _unused_warning(layout, reason):
    """One sentence naming the nodes whose brick space the layout leaves unused (> 1 GiB and > 1 %)."""
    parts = []
    for node in layout.nodes:  # not the witness: it is meant to be small and hold one arbiter
        unused = node.brick_bytes - layout.node_bytes(node)
        if unused > GiB and unused * 100 > node.brick_bytes:
            parts.append("%s %s of %s" % (node.name, format_bytes(unused), format_bytes(node.brick_bytes)))
    if parts:
        layout.warnings.append("Unused brick space (%s): %s." % (reason, "; ".join(parts)))


def _plan_two_hosts(data, witness):
    a, b = data
    if witness is not None:
        size = _floor_mib(min(a.brick_bytes, b.brick_bytes))
        arb = arbiter_bytes(size)
        if witness.brick_bytes < arb:
            raise PlanError("witness %s's %s brick is too small for the arbiter of %s data bricks" % (
                witness.name, format_bytes(witness.brick_bytes), format_bytes(size)),
                "Give the witness a brick of at least %s (0.5 %% of the data brick, 1 GiB minimum)"
                % format_bytes(arb))
        bricks = [BrickSpec(a, ROLE_DATA, "b1", size, 0), BrickSpec(b, ROLE_DATA, "b1", size, 0),
                  BrickSpec(witness, ROLE_ARBITER, "b1", arb, 0)]
        plan = Layout(KIND_REPLICA2_ARBITER, ["replica", "3", "arbiter", "1"], bricks, 3, data, witness,
                      usable_bytes=size, write_amplification=2.0)
        _unused_warning(plan, "the two data bricks are as large as the smaller host's")
        return plan
    # No witness: the arbiter shares the first host. Client quorum then needs that host.
    size = min(_largest_data_size(a.brick_bytes, 1, True), _floor_mib(b.brick_bytes))
    if size < MIN_BRICK_BYTES:
        raise _too_small(a, KIND_REPLICA2_ARBITER, MIN_BRICK_BYTES + ARBITER_MIN_BYTES)
    arb = arbiter_bytes(size)
    bricks = [BrickSpec(a, ROLE_DATA, "b1", size, 0), BrickSpec(b, ROLE_DATA, "b1", size, 0),
              BrickSpec(a, ROLE_ARBITER, "b2", arb, 0)]
    options = [("cluster.server-quorum-type", "none",
                "2 storage nodes cannot keep server quorum (ratio > 50 %) with one down, so it would stop "
                "the survivor's bricks too; client quorum with the arbiter still prevents split-brain")]
    plan = Layout(KIND_REPLICA2_ARBITER, ["replica", "3", "arbiter", "1"], bricks, 3, data, None,
                  usable_bytes=size, write_amplification=2.0,
                  force=True, volume_options=options, shared_arbiter=True)
    plan.warnings.append(
        "No witness: the arbiter brick is on %s, so if %s fails the volume loses quorum and VM I/O stops "
        "(by design, to avoid split-brain) until it is back, while the loss of %s is survived. Add a "
        "witness (a small VM or Linux machine outside the pool, on the storage network, like vSAN's "
        "2-node witness) so that either host may fail." % (a.name, a.name, b.name))
    _unused_warning(plan, "the two data bricks are as large as the smaller host allows")
    return plan


def _plan_replica3(data):
    count = len(data)
    per_node = 3 // math.gcd(count, 3)
    size = _floor_mib(min(n.brick_bytes for n in data) // per_node)
    if size < MIN_BRICK_BYTES:
        raise _too_small(min(data, key=lambda n: n.brick_bytes), KIND_REPLICA3, per_node * MIN_BRICK_BYTES)
    bricks = _round_robin(data, 3, per_node, size)
    kind = KIND_REPLICA3 if count == 3 else KIND_DIST_REPLICA3
    plan = Layout(kind, ["replica", "3"], bricks, 3, data, usable_bytes=size * len(bricks) // 3,
                  write_amplification=3.0)
    _unused_warning(plan, "bricks are sized from the smallest node")
    return plan


def _plan_replica3_arbiter_3(data):
    # The arbiter goes on the smallest node (the last of equals): its space matters least.
    arb_node = min(reversed(data), key=lambda n: n.brick_bytes)
    d1, d2 = [n for n in data if n is not arb_node]
    size = _largest_fitting(lambda s: arbiter_bytes(s) <= arb_node.brick_bytes,
                            min(d1.brick_bytes, d2.brick_bytes))
    bricks = [BrickSpec(d1, ROLE_DATA, "b1", size, 0), BrickSpec(d2, ROLE_DATA, "b1", size, 0),
              BrickSpec(arb_node, ROLE_ARBITER, "b1", arbiter_bytes(size), 0)]
    plan = Layout(KIND_REPLICA3_ARBITER, ["replica", "3", "arbiter", "1"], bricks, 3, data,
                  usable_bytes=size, write_amplification=2.0)
    _unused_warning(plan, "%s holds only the arbiter brick, the data bricks are as large as the smaller "
                          "of the other two" % arb_node.name)
    return plan


def _plan_chained_arbiter(data):
    """Set i = data on node i, data on node i+1, arbiter on node i+2 (mod N)."""
    count = len(data)
    smallest = min(data, key=lambda n: n.brick_bytes)
    size = _largest_data_size(smallest.brick_bytes, 2, True)
    if size < MIN_BRICK_BYTES:
        raise _too_small(smallest, KIND_DIST_REPLICA3_ARBITER, 2 * MIN_BRICK_BYTES + ARBITER_MIN_BYTES)
    arb = arbiter_bytes(size)
    counters = {}
    bricks = []
    for i in range(count):
        for offset, role, nbytes in ((0, ROLE_DATA, size), (1, ROLE_DATA, size), (2, ROLE_ARBITER, arb)):
            node = data[(i + offset) % count]
            counters[id(node)] = counters.get(id(node), 0) + 1
            bricks.append(BrickSpec(node, role, "b%d" % counters[id(node)], nbytes, i))
    plan = Layout(KIND_DIST_REPLICA3_ARBITER, ["replica", "3", "arbiter", "1"], bricks, 3, data,
                  usable_bytes=size * count, write_amplification=2.0)
    _unused_warning(plan, "sub-bricks are sized from the smallest node, %s" % smallest.name)
    return plan


def _round_robin(data, set_size, per_node, size):
    """Write the node list ``per_node`` times in a row and cut it into sets of ``set_size``.

    Any ``set_size`` <= N consecutive positions p have distinct p mod N, so no set repeats
    a node, and every node appears exactly ``per_node`` times. Needs N * per_node to be a
    multiple of set_size (per_node = set_size / gcd(N, set_size) is the smallest such).
    """
    count = len(data)
    counters = {}
    bricks = []
    for p in range(count * per_node):
        node = data[p % count]
        counters[id(node)] = counters.get(id(node), 0) + 1
        bricks.append(BrickSpec(node, ROLE_DATA, "b%d" % counters[id(node)], size, p // set_size))
    return bricks


def disperse_bricks_per_node(node_count, k, m):
    # type: (int, int, int) -> int
    """Sub-bricks each node needs for a k+m round-robin layout on ``node_count`` nodes."""
    return (k + m) // math.gcd(node_count, k + m)


def disperse_node_counts(k, m):
    """Host counts (up to MAX_DATA_NODES) on which k+m fits with at most MAX_BRICKS_PER_NODE per node."""
    return [c for c in range(k + m, MAX_DATA_NODES + 1) if disperse_bricks_per_node(c, k, m) <= MAX_BRICKS_PER_NODE]


def default_disperse(node_count):
    # type: (int) -> tuple
    """The (k, m) XOSAN picks for ``node_count`` hosts when none is given."""
    candidates = DISPERSE_DEFAULTS_LARGE if node_count >= DISPERSE_LARGE_FROM else DISPERSE_DEFAULTS_SMALL
    for k, m in candidates:
        if k + m <= node_count and disperse_bricks_per_node(node_count, k, m) <= MAX_BRICKS_PER_NODE:
            return (k, m)
    raise PlanError("no erasure code fits %d hosts" % node_count, "Disperse needs at least 3 hosts")


def _plan_disperse(data, witness, k, m):
    count = len(data)
    if witness is not None:
        raise PlanError("a disperse volume has no arbiter bricks for the witness %s" % witness.name,
                        "Remove the witness, or use replica2-arbiter on 2 hosts with the witness")
    if count < 3:
        raise PlanError("layout disperse needs at least 3 hosts, %d given" % count,
                        "With 2 hosts use replica2-arbiter (or auto), best with a witness")
    if (k is None) != (m is None):
        raise PlanError("only one of disperse data (k) and redundancy (m) given",
                        "Give both (e.g. 4 and 2 for 4+2) or neither for the default")
    fallback = None
    if k is None:
        k, m = default_disperse(count)
        first = (DISPERSE_DEFAULTS_LARGE if count >= DISPERSE_LARGE_FROM else DISPERSE_DEFAULTS_SMALL)[0]
        if (k, m) != first:
            fallback = first
    for label, value in (("data", k), ("redundancy", m)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise PlanError("disperse %s count %r is not a whole number" % (label, value),
                            "Give integers, e.g. 4 data and 2 redundancy")
    if m < 1:
        raise PlanError("disperse redundancy %d: at least one fragment must be redundant" % m,
                        "Use redundancy 1 or more (2+1 on 3 hosts, 4+2 on 6)")
    if k < 1 or 2 * m >= k + m:
        raise PlanError("disperse %d+%d: the redundancy must be less than half of the %d fragments" % (k, m, k + m),
                        "Use more data fragments than redundancy ones, e.g. 2+1 or 4+2")
    n = k + m
    if n > count:
        raise PlanError("disperse %d+%d needs %d hosts, %d given" % (k, m, n, count),
                        "Add hosts or use a smaller code, e.g. %d+%d" % default_disperse(count))
    per_node = disperse_bricks_per_node(count, k, m)
    if per_node > MAX_BRICKS_PER_NODE:
        raise PlanError("disperse %d+%d on %d hosts needs %d bricks on every host (at most %d)" % (
            k, m, count, per_node, MAX_BRICKS_PER_NODE),
            "Host counts that work for %d+%d: %s; or use %d+%d on %d hosts" % (
                k, m, ", ".join(str(c) for c in disperse_node_counts(k, m)),
                default_disperse(count)[0], default_disperse(count)[1], count))
    smallest = min(data, key=lambda nd: nd.brick_bytes)
    size = _floor_mib(smallest.brick_bytes // per_node)
    if size < MIN_BRICK_BYTES:
        raise _too_small(smallest, KIND_DISPERSE, per_node * MIN_BRICK_BYTES)
    bricks = _round_robin(data, n, per_node, size)
    kind = KIND_DISPERSE if count == n else KIND_DIST_DISPERSE
    plan = Layout(kind, ["disperse", str(n), "redundancy", str(m)], bricks, n, data, disperse=(k, m),
                  usable_bytes=size * k * (len(bricks) // n),
                  write_amplification=float(n) / k)
    plan.warnings.append(
        "Erasure coding (disperse %d+%d) is slow for random VM writes: every write is encoded and sent to "
        "%d nodes with extra locking and metadata updates, writes not aligned to its %d-byte stripe become "
        "read-modify-write, and every read needs %d nodes. Choose it for capacity; replica3-arbiter is "
        "faster for busy VMs." % (k, m, n, k * 512, k))
    if fallback:
        fk, fm = fallback
        plan.warnings.append(
            "Disperse %d+%d (one node may fail) was chosen because %d+%d would need %d bricks on each of the %d "
            "hosts; %d+%d fits on %s hosts." % (
                k, m, fk, fm, disperse_bricks_per_node(count, fk, fm), count, fk, fm,
                ", ".join(str(c) for c in disperse_node_counts(fk, fm))))
    if k & (k - 1):
        plan.warnings.append(
            "%d data fragments is not a power of two: the %d-byte stripe does not divide 4 KiB, so most VM "
            "writes are read-modify-write; prefer 2+1, 4+2 or 8+2." % (k, k * 512))
    _unused_warning(plan, "bricks are sized from the smallest node, %s" % smallest.name)
    return plan
