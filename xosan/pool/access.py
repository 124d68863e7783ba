"""How XOSAN reaches its storage nodes: SSH with the deployment's own key, host keys pinned.

The keys live in the state dir (``<state-dir>/<deployment>/ssh``) so that every later
command (a re-run, status, day-2) reaches the same VMs without asking anyone to trust
anything: deploy generates each VM's host key itself and hands it over by xenstore.
"""

import base64
import os

from xosan.gluster import GlusterCLI, ssh

# How long one gluster command over SSH may take: a volume create on a busy pool is slow.
NODE_TIMEOUT = 60
# The host key id of the witness (xosan/pool/witness.py makes it), next to the storage VMs' host uuids.
WITNESS_KEY = "witness"


class NodeAccess(object):
    def __init__(self, key_dir, deployment_id):
        self.key_dir = key_dir
        self.id = deployment_id
        self.key_path = os.path.join(key_dir, "id_ed25519")
        self.known_hosts = os.path.join(key_dir, "known_hosts")
        self.witness_address_path = os.path.join(key_dir, "witness-address")

    def host_key_path(self, host_uuid):
        return os.path.join(self.key_dir, "hostkeys", host_uuid)

    def ensure_keys(self, hosts):
        """The deployment key and one host key per host (``hosts``: anything with ``uuid`` and
        ``name``), made once and kept for re-runs: {"authorized": public key line, "hosts":
        {host uuid: private host key, base64}} as the storage VMs' xenstore_data wants them."""
        pub = ssh.generate_key(self.key_path, comment="xosan-%s" % self.id)
        host_keys = {}
        for h in hosts:
            path = self.host_key_path(h.uuid)
            ssh.generate_key(path, comment="xosan-%s-%s" % (self.id, h.name))
            with open(path, "rb") as fh:
                host_keys[h.uuid] = base64.b64encode(fh.read()).decode("ascii")
        return {"authorized": pub, "hosts": host_keys}

    def pin(self, addressed_hosts):
        """Rewrite known_hosts: each (address, host uuid) pinned to the host key deploy made for it,
        and the witness to the one ``xosan witness prepare`` made (it is no VM deploy could list)."""
        lines = []
        for address, host_uuid in list(addressed_hosts) + [self.witness_pin()]:
            pub = self.host_key_path(host_uuid or "") + ".pub"
            if address and os.path.exists(pub):
                with open(pub) as fh:
                    lines.append(ssh.known_hosts_line(address, fh.read().strip()))
        ssh.write_known_hosts(self.known_hosts, lines)

    def witness_pin(self):
        try:
            with open(self.witness_address_path) as fh:
                return fh.read().strip(), WITNESS_KEY
        except IOError:
            return None, None

    def target(self, address):
        return ssh.SSHTarget(address, self.key_path, self.known_hosts)

    def cli(self, address, timeout=NODE_TIMEOUT):
        """A GlusterCLI over SSH on the storage node (or witness) at ``address``."""
        return GlusterCLI(runner=self.target(address).run, where=address, timeout=timeout)

    def clis(self, addresses):
        return dict((a, self.cli(a)) for a in addresses)
