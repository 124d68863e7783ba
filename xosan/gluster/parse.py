"""glusterd's ``--xml`` answers, read in one place.

Every parser here takes the text the CLI printed and returns plain objects, so the
callers (dom0's SR code, the deployer, health verdicts) never touch XML.
"""

import xml.etree.ElementTree as ET

from xosan.errors import GlusterError

# glusterd's name for a peer that has finished joining (friend state BEFRIENDED): until every
# node sees a new peer so, commands that name it (replace-brick, add-brick) fail in staging with
# "Host X is not in 'Peer in Cluster' state".
PEER_IN_CLUSTER = "Peer in Cluster"


class Brick(object):
    def __init__(self, host, path, is_arbiter=False, host_uuid=None):
        self.host = host
        self.path = path
        self.is_arbiter = is_arbiter
        self.host_uuid = host_uuid

    @property
    def name(self):
        return "%s:%s" % (self.host, self.path)

    def __repr__(self):
        return "Brick(%r%s)" % (self.name, ", arbiter" if self.is_arbiter else "")


class VolumeInfo(object):
    def __init__(self, name, status, type_str, bricks, replica=1, arbiter=0, disperse=0,
                 redundancy=0, options=None, vol_id=None):
        self.name = name
        self.status = status  # "Started", "Stopped", "Created"
        self.type = type_str  # "Replicate", "Distributed-Replicate", "Disperse", ...
        self.bricks = list(bricks)
        self.replica = replica
        self.arbiter = arbiter
        self.disperse = disperse
        self.redundancy = redundancy
        self.options = dict(options or {})
        self.id = vol_id

    @property
    def started(self):
        return self.status == "Started"

    def hosts(self):
        """Brick hosts in brick order, each once: the volfile servers a client may use."""
        seen = []
        for brick in self.bricks:
            if brick.host not in seen:
                seen.append(brick.host)
        return seen


class Peer(object):
    """One entry of ``pool list`` / ``peer status``. ``state`` is glusterd's stateStr (None for the
    node's own "localhost" entry of pool list); ``hostnames`` every name the node knows it by."""

    def __init__(self, uuid, hostname, connected, state=None, hostnames=None):
        self.uuid = uuid
        self.hostname = hostname
        self.connected = connected
        self.state = state
        self.hostnames = list(hostnames or ([hostname] if hostname else []))

    def known_as(self, address):
        return address == self.hostname or address in self.hostnames

    @property
    def in_cluster(self):
        """Joined and talking: what replace-brick and add-brick require of a brick's host."""
        return self.connected and self.state == PEER_IN_CLUSTER

    def describe(self):
        return "'%s'%s" % (self.state or "no state", "" if self.connected else ", disconnected")

    def __repr__(self):
        return "Peer(%r, %s)" % (self.hostname, self.describe())


def parse_cli_output(text, what="gluster"):
    # type: (str, str) -> ET.Element
    """Parse ``--xml`` output; raise GlusterError carrying opErrstr when opRet != 0."""
    start = text.find("<?xml")
    if start < 0:
        start = text.find("<cliOutput")
    if start < 0:
        raise GlusterError("%s gave no XML answer: %s" % (what, text.strip()[:200] or "(empty)"))
    try:
        root = ET.fromstring(text[start:].encode("utf-8"))
    except ET.ParseError as exc:
        raise GlusterError("%s gave malformed XML: %s" % (what, exc))
    op_ret = _int(root.findtext("opRet"), -1)
    if op_ret != 0:
        errstr = (root.findtext("opErrstr") or "").strip() or "unknown error"
        raise GlusterError("%s failed: %s" % (what, errstr), op_errno=_int(root.findtext("opErrno"), None))
    return root


def parse_volume_info(text):
    # type: (str) -> list
    root = parse_cli_output(text, "volume info")
    volumes = []
    for vol in root.iter("volume"):
        bricks = []
        for b in vol.iter("brick"):
            name = b.findtext("name") or (b.text or "").strip()
            host, _, path = name.rpartition(":")
            bricks.append(Brick(host, path, is_arbiter=b.findtext("isArbiter") == "1",
                                host_uuid=b.findtext("hostUuid")))
        options = {}
        for opt in vol.iter("option"):
            options[opt.findtext("name")] = opt.findtext("value")
        volumes.append(VolumeInfo(
            name=vol.findtext("name"), status=vol.findtext("statusStr"), type_str=vol.findtext("typeStr"),
            bricks=bricks, replica=_int(vol.findtext("replicaCount"), 1),
            arbiter=_int(vol.findtext("arbiterCount"), 0), disperse=_int(vol.findtext("disperseCount"), 0),
            redundancy=_int(vol.findtext("redundancyCount"), 0), options=options,
            vol_id=vol.findtext("id")))
    return volumes


def parse_volume_list(text):
    # type: (str) -> list
    root = parse_cli_output(text, "volume list")
    return [v.text for v in root.iter("volume") if v.text]


def _parse_peers(text, what):
    root = parse_cli_output(text, what)
    peers = []
    for p in root.iter("peer"):
        names = [(h.text or "").strip() for h in p.findall("hostnames/hostname")]
        peers.append(Peer(p.findtext("uuid"), p.findtext("hostname"), p.findtext("connected") == "1",
                          p.findtext("stateStr"), [n for n in names if n]))
    return peers


def parse_pool_list(text):
    # type: (str) -> list
    """Every node of the pool as this node sees it, itself included (hostname "localhost")."""
    return _parse_peers(text, "pool list")


def parse_peer_status(text):
    # type: (str) -> list
    """The other nodes of the pool as this node sees it (``peer status``: itself left out)."""
    return _parse_peers(text, "peer status")


class BrickStatus(object):
    """One brick (or self-heal daemon) line of ``volume status [detail]``."""

    def __init__(self, host, path, online, pid=None, port=None, size_total=None, size_free=None,
                 device=None, fs=None, peer_id=None):
        self.host = host
        self.path = path
        self.online = online
        self.pid = pid
        self.port = port
        self.size_total = size_total
        self.size_free = size_free
        self.device = device
        self.fs = fs
        self.peer_id = peer_id

    @property
    def name(self):
        return "%s:%s" % (self.host, self.path)


class HealEntry(object):
    """Heal-pending count of one brick; ``entries`` is None when the brick cannot say."""

    def __init__(self, brick, status, entries):
        self.brick = brick
        self.status = status
        self.entries = entries

    @property
    def connected(self):
        return self.status == "Connected"


def parse_volume_status(text):
    # type: (str) -> tuple
    """(bricks, self_heal_daemons) from ``volume status VOL [detail] --xml``."""
    root = parse_cli_output(text, "volume status")
    bricks, shds = [], []
    for node in root.iter("node"):
        host = node.findtext("hostname")
        item = BrickStatus(host, node.findtext("path"), node.findtext("status") == "1",
                           pid=_int(node.findtext("pid"), None), port=_int(node.findtext("port"), None),
                           size_total=_int(node.findtext("sizeTotal"), None),
                           size_free=_int(node.findtext("sizeFree"), None),
                           device=node.findtext("device"), fs=node.findtext("fsName"),
                           peer_id=node.findtext("peerid"))
        (shds if host == "Self-heal Daemon" else bricks).append(item)
    return bricks, shds


def parse_heal_info(text):
    # type: (str) -> list
    root = parse_cli_output(text, "heal info")
    result = []
    for b in root.iter("brick"):
        result.append(HealEntry(b.findtext("name"), (b.findtext("status") or "").strip(),
                                _int(b.findtext("numberOfEntries"), None)))
    return result


class BrickClients(object):
    """One brick of ``volume status VOL clients``: the clients connected to it, as the brick
    process itself counts them. ``clients`` are "address:port" strings, one per connection (a
    FUSE mount, a self-heal daemon, a glfsheal run...), so one machine may appear several times."""

    def __init__(self, host, path, online, clients, pid=None, port=None):
        self.host = host
        self.path = path
        self.online = online
        self.clients = list(clients)
        self.pid = pid
        self.port = port

    @property
    def name(self):
        return "%s:%s" % (self.host, self.path)

    @property
    def addresses(self):
        """The machines with at least one connection to this brick (ports dropped: a client
        process connects to each brick from a different port)."""
        return set(c.rpartition(":")[0] or c for c in self.clients)


def parse_volume_clients(text):
    # type: (str) -> list
    """``volume status VOL clients --xml``: per brick, who is connected. The only place glusterd
    shows whether a client reconnected to a brick that came back (its own volume status says
    "online" as soon as the brick process runs). Offline bricks are listed without clients."""
    root = parse_cli_output(text, "volume status clients")
    result = []
    for node in root.iter("node"):
        if node.findtext("hostname") in ("Self-heal Daemon", "NFS Server", "Quota Daemon"):
            continue
        clients = [(c.findtext("hostname") or "").strip() for c in node.findall("clientsStatus/client")]
        result.append(BrickClients(node.findtext("hostname"), node.findtext("path"),
                                   node.findtext("status") == "1", [c for c in clients if c],
                                   pid=_int(node.findtext("pid"), None), port=_int(node.findtext("port"), None)))
    return result


class RebalanceNode(object):
    """One node's rebalance daemon as ``rebalance status`` reports it (``files``: moved so far)."""

    def __init__(self, name, state, files=0, size=0, failures=0, skipped=0, node_id=None):
        self.name = name
        self.state = state  # statusStr: "not started", "in progress", "completed", "failed", ...
        self.files = files
        self.size = size
        self.failures = failures
        self.skipped = skipped
        self.id = node_id

    def __repr__(self):
        return "RebalanceNode(%r, %r, %d files)" % (self.name, self.state, self.files)


# States of a node's rebalance daemon after which it does nothing more.
REBALANCE_AT_REST = ("completed", "not started")


class RebalanceStatus(object):
    """A rebalance is over when every node's daemon is at rest; one failed node fails it."""

    def __init__(self, nodes, task_id=None):
        self.nodes = list(nodes)
        self.task_id = task_id

    @property
    def states(self):
        return sorted(set(n.state for n in self.nodes if n.state))

    @property
    def files(self):
        return sum(n.files for n in self.nodes)

    @property
    def finished(self):
        return bool(self.nodes) and all(n.state in REBALANCE_AT_REST for n in self.nodes)

    @property
    def failed(self):
        return any(n.state == "failed" for n in self.nodes)


def parse_rebalance_status(text):
    # type: (str) -> RebalanceStatus
    """``volume rebalance VOL status --xml``: the per-node lines (not glusterd's aggregate line,
    whose state hides which node is still busy or failed)."""
    root = parse_cli_output(text, "rebalance status")
    nodes = [RebalanceNode(n.findtext("nodeName"), n.findtext("statusStr"), files=_int(n.findtext("files"), 0),
                           size=_int(n.findtext("size"), 0), failures=_int(n.findtext("failures"), 0),
                           skipped=_int(n.findtext("skipped"), 0), node_id=n.findtext("id"))
             for n in root.iter("node")]
    return RebalanceStatus(nodes, root.findtext("volRebalance/task-id"))


class OptionValue(object):
    """One line of ``volume get VOL all``: the value in force and whether nobody set it (glusterd
    marks its own defaults "(DEFAULT)"), which tells a tuned volume from an untouched one."""

    def __init__(self, name, value, default=False):
        self.name = name
        self.value = value
        self.default = default

    def __repr__(self):
        return "OptionValue(%r, %r%s)" % (self.name, self.value, ", default" if self.default else "")


DEFAULT_MARK = "(DEFAULT)"


def parse_volume_get(text):
    # type: (str) -> dict
    """``volume get VOL all --xml`` (or one option): {option name: OptionValue}. The cluster-wide
    options (cluster.server-quorum-ratio, ...) are in the answer too."""
    root = parse_cli_output(text, "volume get")
    options = {}
    for opt in root.iter("Opt"):
        name = (opt.findtext("Option") or "").strip()
        if not name or name in options:
            continue
        value = (opt.findtext("Value") or "").strip()
        default = value.endswith(DEFAULT_MARK)
        if default:
            value = value[:-len(DEFAULT_MARK)].strip()
        options[name] = OptionValue(name, value, default)
    return options


def _int(text, default):
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


