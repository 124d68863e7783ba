"""The storage network: the XAPI network storage VMs and dom0s share, and its address plan.

Addresses come from facts' plan (storage VMs from .11, dom0s from .101), so an address
tells which kind of node holds it and a re-run hands out the same ones again.
"""

import ipaddress

from xosan import facts
from xosan.errors import DeployError, XosanError


class StorageNetwork(object):
    def __init__(self, xapi, inventory, spec, witness=None):
        """``spec``: the manifest's network section; ``witness``: its address, kept out of the plan."""
        self.x = xapi
        self.api = xapi.api
        self.inventory = inventory
        self.spec = spec
        self.witness = witness
        self.net = ipaddress.IPv4Network(spec.addresses, strict=False)

    def __str__(self):
        return str(self.net)

    def address(self, host_part):
        return str(self.net.network_address + host_part)

    def host_addresses(self, index):
        """(storage VM address, dom0 address) of the ``index``-th planned host (0-based)."""
        parts = (facts.STORAGE_VM_OFFSET + index, facts.DOM0_OFFSET + index)
        for host_part in parts:
            if self.net.network_address + host_part not in self.net:
                raise DeployError("network.addresses %s has no room for %d hosts" % (self.net, index + 1))
        return tuple(self.address(part) for part in parts)

    def free_vm_address(self, used):
        """The first storage VM address (.11 on) not in ``used``: a replacement or a new host's."""
        for part in range(facts.STORAGE_VM_OFFSET, facts.STORAGE_VM_LAST + 1):
            ip = self.address(part)
            if ip not in used:
                return ip
        raise XosanError("no free storage address in %s" % self.net)

    def _free_dom0_address(self, used):
        for host_part in range(facts.DOM0_OFFSET, self.net.num_addresses - 1):
            address = self.address(host_part)
            if address not in used and address != self.spec.gateway and address != self.witness:
                return address
        raise DeployError("network.addresses %s has no free address for another dom0" % self.net)

    # -- XAPI objects ----------------------------------------------------------------------------

    def ensure(self, p):
        """The network's ref: the named one (mode existing), else the VLAN an earlier run made, else
        a new VLAN on the master's ``pif``."""
        n = self.spec
        nets = self.x.call(self.api.network.get_all_records)
        if n.mode == "existing":
            found = [r for r, rec in nets.items() if rec["name_label"] == n.name]
            if not found:
                raise DeployError("no network named %r in the pool" % n.name,
                                  hint="Name an existing network (xe network-list) or use network.mode: vlan")
            p.info("using network %r" % n.name)
            return found[0]
        pifs = self.x.call(self.api.PIF.get_all_records)
        mine = [r for r, _ in self.inventory.mine("network")]
        if mine:
            tags = sorted(set(str(rec.get("VLAN")) for rec in pifs.values() if rec["network"] == mine[0]))
            if tags == [str(n.vlan)]:
                p.info("network %r exists (made by an earlier run)" % n.name)
                return mine[0]
            if tags:
                raise DeployError("network %r of this deployment carries VLAN %s, not %s"
                                  % (n.name, ", ".join(tags), n.vlan),
                                  hint="Keep network.vlan: %s, or destroy the deployment first (xosan destroy)"
                                       % ", ".join(tags))
            net = mine[0]  # an earlier run made the network, then the VLAN was refused: make it now
        else:
            net = None
        master = self.inventory.master()
        base = [r for r, rec in pifs.items() if rec["host"] == master and rec["device"] == n.pif
                and rec.get("VLAN", "-1") in ("-1", -1)]
        if not base:
            raise DeployError("the pool master has no physical interface %r for the VLAN" % n.pif,
                              hint="Set network.pif to a device shown by xe pif-list")
        made = net is None
        if made:
            net = self.x.call(self.api.network.create, {
                "name_label": n.name, "name_description": "XOSAN storage network", "MTU": str(n.mtu),
                "other_config": {facts.TAG_DEPLOYMENT: self.inventory.id}, "tags": []})
        try:
            self.x.call(self.api.pool.create_VLAN_from_PIF, base[0], net, str(n.vlan))
        except XosanError:
            if made:  # leave nothing half made: a network without its VLAN would be taken as done
                self.x.call(self.api.network.destroy, net)
            raise
        p.info("created VLAN %s on %s: network %r" % (n.vlan, n.pif, n.name))
        return net

    def dom0_addresses(self, p, net, preferred=None):
        """Give every pool host's dom0 an address on the storage network, not only the storage hosts':
        a VM on any host needs the SR, and the SR is a mount of the volume in that host's dom0.
        ``preferred``: {host ref: address} (the plan's .101, .102, ...); other hosts (compute-only
        ones, hosts that joined later) get the lowest free address from .101 up."""
        preferred = preferred or {}
        pifs = self.x.call(self.api.PIF.get_all_records)
        hosts = self.x.call(self.api.host.get_all_records)
        on_net = dict((rec["host"], (r, rec)) for r, rec in pifs.items() if rec["network"] == net)
        missing = sorted(set(hosts) - set(on_net), key=lambda h: hosts[h]["name_label"])
        if missing:
            raise DeployError("host(s) %s have no interface on the storage network" % ", ".join(
                hosts[h]["name_label"] for h in missing),
                hint="Plug a NIC of every host into network %r: every host mounts the volume" % self.spec.name)
        used = set(rec["IP"] for _, rec in on_net.values() if rec["IP"])
        used.update(preferred.values())
        order = sorted(on_net, key=lambda h: (h not in preferred, hosts[h]["name_label"]))
        for host in order:
            pif, rec = on_net[host]
            name = hosts[host]["name_label"]
            if rec["ip_configuration_mode"] != "None":
                p.info("%s: dom0 already has %s" % (name, rec["IP"] or rec["ip_configuration_mode"]))
                continue
            address = preferred.get(host) or self._free_dom0_address(used)
            used.add(address)
            self.x.call(self.api.PIF.reconfigure_ip, pif, "Static", address, str(self.net.netmask),
                        self.spec.gateway or "", "")
            self.x.call(self.api.PIF.add_to_other_config, pif, facts.TAG_DEPLOYMENT, self.inventory.id)
            p.info("%s: dom0 %s%s" % (name, address, "" if host in preferred else " (no storage VM)"))

    # -- undo ------------------------------------------------------------------------------------

    def clear_dom0_addresses(self, p):
        for pif, rec in self.inventory.mine("PIF"):
            self.x.call(self.api.PIF.reconfigure_ip, pif, "None", "", "", "", "")
            self.x.call(self.api.PIF.remove_from_other_config, pif, facts.TAG_DEPLOYMENT)
            p.info("cleared %s" % rec.get("IP"))

    def destroy(self, p):
        """The VLAN network, if this deployment made it (an existing network is not tagged)."""
        for net, rec in self.inventory.mine("network"):
            for pif in rec["PIFs"]:
                self.x.call(self.api.PIF.destroy, pif)
            self.x.call(self.api.network.destroy, net)
            p.info("destroyed network %r" % rec["name_label"])
