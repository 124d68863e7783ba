"""Talking to glusterd through its CLI in XML mode, and reading its answers.

The CLI is the only interface glusterd offers that works the same in dom0
(read-only, ``--remote-host``) and inside a storage VM (over SSH), so one
class serves both by taking a command prefix.
"""

import time
import xml.etree.ElementTree as ET

from xosan import proc
from xosan.errors import (CommandFailed, CommandTimeout, GlusterError, ServerUnreachable,
                          VolumeNotFound)

GLUSTER = "gluster"

# glusterd refuses while a cluster-wide transaction holds its lock (e.g. one that waits for a
# peer that just vanished): worth retrying for a while, unlike a real error.
TRANSIENT = ("Another transaction is in progress", "Locking failed", "is busy")
RETRY_FOR = 90.0


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
    def __init__(self, uuid, hostname, connected, state=None):
        self.uuid = uuid
        self.hostname = hostname
        self.connected = connected
        self.state = state


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


def parse_pool_list(text):
    # type: (str) -> list
    root = parse_cli_output(text, "pool list")
    peers = []
    for p in root.iter("peer"):
        peers.append(Peer(p.findtext("uuid"), p.findtext("hostname"), p.findtext("connected") == "1",
                          p.findtext("stateStr")))
    return peers


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


def _int(text, default):
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


class GlusterCLI(object):
    """Runs ``gluster --mode=script ... --xml`` somewhere and parses the answer.

    ``runner(argv, timeout=, check=)`` puts the command on a storage node (an
    SSHTarget's ``run``); without one it runs here. ``remote_host`` asks a
    glusterd over the network from here, which glusterd allows for queries only.
    """

    def __init__(self, runner=None, remote_host=None, timeout=30, where=None):
        self.runner = runner or proc.run
        self.remote_host = remote_host
        self.timeout = timeout
        self._where = where

    def where(self):
        return self._where or self.remote_host or "the local glusterd"

    def run_xml(self, args, what=None):
        cmd = [GLUSTER, "--mode=script"]
        if self.remote_host:
            cmd.append("--remote-host=%s" % self.remote_host)
        cmd += list(args) + ["--xml"]
        what = what or " ".join(args[:2])
        try:
            res = self.runner(cmd, timeout=self.timeout, check=False)
        except CommandTimeout:
            raise ServerUnreachable("glusterd on %s did not answer %r within %s s"
                                    % (self.where(), what, self.timeout))
        except CommandFailed as exc:
            raise GlusterError("cannot run the gluster command on %s: %s" % (self.where(), exc.message))
        out = res.stdout or ""
        if "<cliOutput" not in out:
            text = (res.stderr + out).strip()
            if "Connection failed" in text or "not connected" in text or (res.returncode != 0 and not text):
                raise ServerUnreachable("glusterd on %s cannot be reached (%s)" % (
                    self.where(), text.splitlines()[-1] if text else "no answer"),
                    hint="Check that the storage node is running and reachable on TCP port 24007")
            raise GlusterError("gluster %s on %s failed: %s" % (what, self.where(), text or "no output"))
        return out

    def query(self, args, parse, what=None):
        """run_xml + parse, retrying while glusterd says another transaction holds its lock."""
        deadline = time.time() + RETRY_FOR
        while True:
            try:
                return parse(self.run_xml(list(args), what))
            except GlusterError as exc:
                if not any(t in exc.message for t in TRANSIENT) or time.time() > deadline:
                    raise
            time.sleep(2)

    def command(self, args, what=None):
        """A command that changes something (peer probe, volume create/set/start); raises on failure."""
        what = what or " ".join(args[:2])
        return self.query(args, lambda out: parse_cli_output(out, what), what)

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

    def volume_status(self, volume, detail=True):
        args = ["volume", "status", volume] + (["detail"] if detail else [])
        return self.query(args, parse_volume_status, "volume status")

    def heal_info(self, volume, split_brain=False):
        args = ["volume", "heal", volume, "info"] + (["split-brain"] if split_brain else [])
        return self.query(args, parse_heal_info, "heal info")
