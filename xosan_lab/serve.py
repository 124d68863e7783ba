"""The lab's XAPI simulator as a process: ``python -m xosan_lab.serve --workdir W``.

Started in the background by ``python -m xosan_lab pool``; it owns the lab (its nodes come
and go with the storage VMs) and records its pid and URL in the lab state, so
``python -m xosan_lab down`` stops it first.
"""

import argparse
import os
import signal
import sys

from xosan_lab.cluster import Lab
from xosan_lab.pool_sim import LabXapi
from xosan_lab.xapi_sim import XapiSimServer

GiB = 1024 ** 3


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m xosan_lab.serve")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--local-sr-gib", type=int, default=40)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--subnet", default="10.250.0")
    args = ap.parse_args(argv)
    with open(args.password_file) as fh:
        password = fh.readline().strip()
    lab = Lab.load(args.workdir) or Lab.new(args.workdir, subnet=args.subnet)
    lab.bridge_up()
    sim = LabXapi(lab, hosts=args.hosts, local_sr_size=args.local_sr_gib * GiB, password=password)
    # On the lab bridge's address: the simulated hosts' drivers call back from their namespaces.
    server = XapiSimServer(sim, port=args.port, address=lab.host_ip)
    sim.url = server.url
    lab.state["xapi"] = {"pid": os.getpid(), "url": server.url, "hosts": args.hosts}
    lab.save()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    sys.stdout.write("XAPI simulator on %s\n" % server.url)
    sys.stdout.flush()
    try:
        server.server.serve_forever()
    finally:
        server.server.server_close()
        sim.close()


if __name__ == "__main__":
    main()
