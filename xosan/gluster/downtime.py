"""May this storage node go down now? The one rule for a rolling reboot or update, shared by the
host plugin (dom0, ``fn=can_reboot``) and ``xosan check-reboot`` (SSH to a storage VM).

Why a rule of its own and not just "the verdict is healthy": a host's reboot takes its storage
VM down for minutes, so the question is what the volume looks like *after*, and whether the
copies the other nodes hold are complete *now*. Both Xen Orchestra's Rolling Pool Update and a
hand-made ``xe host-evacuate`` + reboot loop move to the next host as soon as xapi is back on
the previous one (docs/xen-orchestra.md), which is before its bricks have healed: the node about
to go down may then hold the only fresh copy of what was written meanwhile.

So the node may go down only when every one of these holds, each a separate refusal with its
own key (the plugin turns the keys into stable numeric codes):

- the volume is started, no file is in split-brain and nothing waits for self-heal, on every
  brick; a heal count nobody could read counts as "maybe pending" (refused, never assumed 0);
- every brick is online and every peer connected (a node just back but not reconnected is the
  case the heal has not even started for);
- with this node's bricks offline and its glusterd gone, every replica or disperse set keeps
  client quorum and the pool keeps server quorum (``health.without_nodes``).
"""

from xosan.gluster import health

SPLIT_BRAIN = "SPLIT_BRAIN"
HEAL_PENDING = "HEAL_PENDING"
HEAL_UNKNOWN = "HEAL_UNKNOWN"
VOLUME_NOT_STARTED = "VOLUME_NOT_STARTED"
BRICK_OFFLINE = "BRICK_OFFLINE"
NODE_NOT_ONLINE = "NODE_NOT_ONLINE"
QUORUM_WOULD_BREAK = "QUORUM_WOULD_BREAK"


class Refusal(object):
    """One reason the node may not go down: ``key`` (stable), a sentence, and the facts in it."""

    def __init__(self, key, message, **params):
        self.key = key
        self.message = message
        self.params = params

    def as_dict(self):
        d = dict(self.params)
        d.update({"key": self.key, "message": self.message})
        return d

    def __repr__(self):
        return "Refusal(%s: %s)" % (self.key, self.message)


def refusals(h, addresses, heal_source=None):
    # type: (health.VolumeHealth, list, str) -> list
    """Why the storage nodes ``addresses`` (brick host names) may not go down now; [] when they may.
    ``heal_source`` says, for an unknown heal count, why it is unknown (e.g. glfsheal missing in
    dom0); without it, what heal info said of those bricks."""
    out = []
    if not h.info.started:
        out.append(Refusal(VOLUME_NOT_STARTED, "volume %s is %s" % (h.info.name, h.info.status.lower()),
                           volume=h.info.name, status=h.info.status))
    split = h.split_brain
    if split:
        out.append(Refusal(SPLIT_BRAIN, "%d file(s) in split-brain" % split, entries=split))
    pending = h.heal_pending
    if pending:
        where = sorted(set(b.host for b in h.bricks if b.heal_pending))
        out.append(Refusal(HEAL_PENDING, "%d entries waiting for self-heal (on %s)" % (pending, ", ".join(where)),
                           entries=pending, nodes=where))
    unknown = [b for b in h.bricks if b.online and (b.heal_pending is None or b.split_brain is None)]
    if unknown:
        said = sorted(set(b.heal_status for b in unknown if b.heal_status and b.heal_status != health.HEAL_CONNECTED))
        why = heal_source or ("heal info: %s" % "; ".join(said) if said else "no answer from heal info")
        unknown = [b.name for b in unknown]
        out.append(Refusal(HEAL_UNKNOWN, "heal state unknown on %s (%s): it may still be healing"
                           % (", ".join(unknown), why), bricks=unknown))
    offline = [b for b in h.bricks if not b.online]
    if offline:
        out.append(Refusal(BRICK_OFFLINE, "brick(s) offline: %s" % ", ".join(b.name for b in offline),
                           bricks=[b.name for b in offline]))
    gone = sorted(p.hostname for p in h.peers if p.hostname != "localhost" and not p.connected)
    if gone:
        out.append(Refusal(NODE_NOT_ONLINE, "storage node(s) not connected: %s" % ", ".join(gone), nodes=gone))
    mine = [a for a in addresses if any(b.host == a for b in h.bricks)]
    if mine:
        after = health.without_nodes(h, mine)
        if not after.writable:
            out.append(Refusal(QUORUM_WOULD_BREAK, "without %s: %s" % (", ".join(mine), after.reason),
                               nodes=mine))
    return out


def holds_bricks(h, addresses):
    """Whether any of ``addresses`` holds a brick of the volume: a host without one may always go down
    as far as this volume is concerned."""
    return any(b.host in set(addresses) for b in h.bricks)
