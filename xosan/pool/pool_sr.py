"""The deployment's SR of type xosan: made last, plugged on every host, destroyed first.

SR.create on the master makes a PBD for every host and plugs them; a host that joined
later or failed to plug is plugged here, which is why ``ensure`` runs on every re-run.
"""

from xosan import facts
from xosan.errors import DeployError


class PoolSR(object):
    def __init__(self, xapi, inventory, name, volume):
        self.x = xapi
        self.api = xapi.api
        self.inventory = inventory
        self.name = name
        self.volume = volume

    def ensure(self, p, servers):
        """The SR (made if missing, with ``servers`` as its volfile servers), plugged everywhere."""
        found = self.inventory.mine("SR")
        if found:
            sr = found[0][0]
            p.info("SR exists")
        else:
            dconf = {"server": ",".join(servers), "volume": self.volume}
            sr = self.x.run_async("SR.create", self.inventory.master(), dconf, "0", self.name,
                                  "XOSAN hyperconverged storage (volume %s)" % self.volume, "xosan", "user",
                                  True, {})
            self.x.call(self.api.SR.add_to_other_config, sr, facts.TAG_DEPLOYMENT, self.inventory.id)
            p.info("created and plugged on every host")
        for pbd in self.x.call(self.api.SR.get_PBDs, sr):
            if not self.x.call(self.api.PBD.get_currently_attached, pbd):
                self.x.run_async("PBD.plug", pbd)
        return sr

    def vdi_count(self):
        return sum(len(self.x.call(self.api.SR.get_VDIs, sr)) for sr, _ in self.inventory.mine("SR"))

    def attached(self):
        """[(host name, whether the SR is plugged there)] for the status summary."""
        out = []
        for _, rec in self.inventory.mine("SR"):
            for pbd in rec["PBDs"]:
                host = self.x.call(self.api.PBD.get_host, pbd)
                out.append((self.x.call(self.api.host.get_name_label, host),
                            self.x.call(self.api.PBD.get_currently_attached, pbd)))
        return out

    def destroy(self, p, force=False):
        """Unplug and destroy the SR; refused while it holds VDIs unless ``force``."""
        for sr, rec in self.inventory.mine("SR"):
            vdis = self.x.call(self.api.SR.get_VDIs, sr)
            if vdis and not force:
                raise DeployError("SR %r still holds %d VDI(s)" % (rec["name_label"], len(vdis)),
                                  hint="Move or delete them first, or add --force to destroy them too")
            for pbd in rec["PBDs"]:
                if self.x.call(self.api.PBD.get_currently_attached, pbd):
                    self.x.run_async("PBD.unplug", pbd)
            self.x.run_async("SR.destroy", sr)
            p.info("destroyed SR %r" % rec["name_label"])
