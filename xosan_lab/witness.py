"""A lab node booted as a witness from the config disk ``xosan witness prepare`` wrote.

What the appliance's first boot does with that disk, done by the lab as far as a network namespace
allows (as pool_sim's _boot_appliance does with a storage VM's xenstore keys): the address and
prefix, the deployment's key as the only key root accepts, the SSH host key from the disk. What a
namespace does not do: the host name, sshd's source-range policy (ssh-from), MTU, gateway, NTP, the
password lock and the XFS format of a blank data disk (the node gets the lab's loop-device brick).
"""

import base64
import os

from xosan.pool import witness
from xosan_lab.node import LabError, LabNode, sh

WITNESS_NAME = "witness"
BRICK_BYTES = 1024 ** 3


def boot_witness(lab, config_image, brick_size=BRICK_BYTES):
    """Start (or restart) the lab's witness node from ``config_image``; returns the LabNode, one of
    ``lab.nodes`` so that lab.down() takes it down with the rest."""
    cfg = witness.read_config_image(config_image)
    for key in ("ip", "prefix", "authorized-key", "host-key"):
        if not cfg.get(key):
            raise LabError("witness config disk %s: no %s file" % (config_image, key))
    node = next((n for n in lab.nodes if n.state.get("vm_name") == WITNESS_NAME), None)
    if node is None:
        index = max([n.state["index"] for n in lab.nodes] + [0]) + 1
        node = LabNode.new(lab.state["lab_id"], index, cfg["ip"], int(cfg["prefix"]), lab.state["workdir"],
                           lab.state["bridge"], brick_size=brick_size, use_loop=lab.state["use_loop"])
        node.state["vm_name"] = WITNESS_NAME
        lab.nodes.append(node)
    os.makedirs(node.ssh_dir, exist_ok=True)
    key = os.path.join(node.ssh_dir, "ssh_host_ed25519_key")
    with open(key, "wb") as fh:
        fh.write(base64.b64decode(cfg["host-key"]))
    os.chmod(key, 0o600)
    # as first boot does: the public half derived from the private key on the disk
    with open(key + ".pub", "w") as fh:
        fh.write(sh(["ssh-keygen", "-y", "-f", key]).stdout)
    node.start(authorized_keys=[cfg["authorized-key"]])
    lab.save()
    return node
