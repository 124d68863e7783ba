"""The metadata Xen Orchestra reads on a type-``xosan`` SR, written in XO's own format.

Xen Orchestra 5 (xo-server before 6.0.0, Dec 2025) treats every SR of type ``xosan`` as its own,
discontinued XOSAN product. Its "Remove this SR" (API ``sr.destroy``) then: refuses if HA's
statefile is on the SR; unplugs every PBD and *forgets* the SR; reads the SR's
``other_config["xo:xosan_config"]`` (XO keeps per-object data in XAPI other_config under an ``xo:``
prefix, as JSON) and destroys every VM listed under ``nodes[].vm.id`` (hard shutdown, then the VM and
the disks only it uses); destroys the network named by ``network`` (its VLANs first); and last asks
its licence service to unbind the SR. docs/xen-orchestra.md has the details and file paths.

Without this metadata that path forgets the SR and then fails, leaving the storage VMs and the
volume running with no SR. With it, XO 5's Remove takes away exactly this deployment's storage VMs
(and their disks) and the storage network, if XOSAN made that network. This module builds the
value from XAPI (only objects tagged with this deployment), keeps it in step with the storage VMs
(deploy, add-host, replace-host call ``sync``) and refuses to overwrite a value it did not write.

What is left out on purpose: ``version`` (XO 5's XOSAN tab then never shows its own XOSAN controls
for this SR, even with a XOSAN licence bound to it), brick names and the local SRs under the bricks
(used only by XO's XOSAN management calls), any key or secret, and ``network`` when the deployment
uses a network it did not create (XO would delete it).
"""

import json

from xosan import facts
from xosan.errors import XosanError
from xosan.pool import storage_vm

# XO's data key: "xo:" + its camelCase-to-snake_case form of the name "xosan_config" (unchanged).
XO_CONFIG_KEY = "xo:xosan_config"
# Our own mark inside the value (XO ignores keys it does not read): which deployment wrote it.
MARK = "xosan-deployment"
# On every storage VM: XO's backup jobs in smart mode skip VMs tagged ``xo:no-bak`` or
# ``xo:no-bak=<reason>`` (the reason is shown). A storage VM's data disk is a brick: a backup of it
# is a copy of one replica, useless to restore alone and as big as the host's share of the SR;
# what to back up is the VMs on the SR.
NO_BACKUP_TAG = "xo:no-bak=XOSAN storage VM"


class XoMetadataError(XosanError):
    pass


def _tagged(records, deployment_id):
    return [(ref, rec) for ref, rec in sorted(records.items())
            if (rec.get("other_config") or {}).get(facts.TAG_DEPLOYMENT) == deployment_id]


def build(deployment_id, vms, networks):
    # type: (str, dict, dict) -> dict
    """The value for one deployment from XAPI records ({ref: record} of VMs and networks).

    ``nodes``: every storage VM of this deployment (templates and snapshots excluded), by uuid,
    with its storage address and its host's uuid; ``network``: the uuid of the storage network only
    if this deployment created it (tagged), else absent.
    """
    if not facts.is_volume_name(deployment_id):
        raise XoMetadataError("not a deployment id: %r" % (deployment_id,))
    nodes = []
    for _, rec in _tagged(vms, deployment_id):
        if rec.get("is_a_template") or rec.get("is_a_snapshot") or rec.get("is_control_domain"):
            continue
        node = {"vm": {"id": rec["uuid"]}}
        ip = storage_vm.from_xenstore_data(rec.get("xenstore_data")).get("ip")
        if ip:
            node["vm"]["ip"] = ip
        host = (rec.get("other_config") or {}).get(facts.TAG_HOST)
        if host:
            node["host"] = host
        nodes.append(node)
    nodes.sort(key=lambda n: (n["vm"].get("ip", ""), n["vm"]["id"]))
    config = {MARK: deployment_id, "nodes": nodes}
    nets = _tagged(networks, deployment_id)
    if len(nets) > 1:
        raise XoMetadataError("deployment %s tags %d networks; expected at most one" % (deployment_id, len(nets)))
    if nets:
        config["network"] = nets[0][1]["uuid"]
    return config


def encode(config):
    # type: (dict) -> str
    """The JSON text XO's JSON.parse reads (compact, keys sorted: equal configs give equal text)."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def decode(text):
    # type: (str) -> dict
    """The stored value back as a dict, or None when absent; XoMetadataError when it is not JSON
    of the expected shape (XO itself would fail on it)."""
    if text is None or text == "":
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise XoMetadataError("%s is not JSON: %s" % (XO_CONFIG_KEY, exc))
    if not isinstance(value, dict) or not isinstance(value.get("nodes"), list):
        raise XoMetadataError("%s has no list of nodes" % XO_CONFIG_KEY)
    for node in value["nodes"]:
        if not isinstance(node, dict) or not isinstance(node.get("vm"), dict) or not node["vm"].get("id"):
            raise XoMetadataError("%s has a node without vm.id: %r" % (XO_CONFIG_KEY, node))
    return value


def owner(config):
    # type: (dict) -> str
    """The deployment that wrote ``config`` (None: written by someone else, e.g. XO's own XOSAN)."""
    return (config or {}).get(MARK)


def vm_uuids(config):
    # type: (dict) -> list
    """The VMs XO 5's Remove would destroy, in the order listed."""
    return [n["vm"]["id"] for n in (config or {}).get("nodes", [])]


def _srs(x, deployment_id):
    return [(ref, rec) for ref, rec in _tagged(x.call(x.api.SR.get_all_records), deployment_id)
            if rec.get("type") == "xosan"]


def expected(x, deployment_id):
    # type: (object, str) -> dict
    """``build`` from the pool's current records (``x``: xosan.pool.xapi.Xapi)."""
    return build(deployment_id, x.call(x.api.VM.get_all_records), x.call(x.api.network.get_all_records))


def _stored(deployment_id, sr_rec):
    text = (sr_rec.get("other_config") or {}).get(XO_CONFIG_KEY)
    try:
        current = decode(text)
    except XoMetadataError:
        current = {}  # unreadable: not ours
    if text is not None and owner(current) != deployment_id:
        raise XoMetadataError(
            "SR %r already has %s written by %s" % (sr_rec.get("name_label"), XO_CONFIG_KEY,
                                                   owner(current) or "someone else (not XOSAN)"),
            hint="Check it (xe sr-param-get uuid=%s param-name=other-config param-key=%s); remove it "
                 "(xe sr-param-remove ... param-key=%s) if it is stale, then re-run" % (
                     sr_rec.get("uuid"), XO_CONFIG_KEY, XO_CONFIG_KEY))
    return text


def sync(x, deployment_id):
    # type: (object, str) -> dict
    """Write (or refresh) the value on this deployment's SR(s); returns it, or None with no SR yet.

    Idempotent: an SR that already carries the same text is left alone. Refuses (XoMetadataError)
    an SR whose value was not written by this deployment.
    """
    srs = _srs(x, deployment_id)
    if not srs:
        return None
    config = expected(x, deployment_id)
    text = encode(config)
    for ref, rec in srs:
        old = _stored(deployment_id, rec)
        if old == text:
            continue
        if old is not None:
            x.call(x.api.SR.remove_from_other_config, ref, XO_CONFIG_KEY)
        x.call(x.api.SR.add_to_other_config, ref, XO_CONFIG_KEY, text)
    return config


def clear(x, deployment_id):
    # type: (object, str) -> int
    """Take our value off this deployment's SR(s) (never someone else's); returns how many."""
    n = 0
    for ref, rec in _srs(x, deployment_id):
        if _stored(deployment_id, rec) is not None:
            x.call(x.api.SR.remove_from_other_config, ref, XO_CONFIG_KEY)
            n += 1
    return n


def check(x, deployment_id):
    # type: (object, str) -> list
    """[(SR name, state)] with state "in step", "missing", "stale" or "foreign", for status output."""
    want = encode(expected(x, deployment_id))
    out = []
    for _, rec in _srs(x, deployment_id):
        try:
            have = _stored(deployment_id, rec)
        except XoMetadataError:
            out.append((rec.get("name_label"), "foreign"))
            continue
        out.append((rec.get("name_label"), "missing" if have is None else "in step" if have == want else "stale"))
    return out
