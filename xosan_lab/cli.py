"""``python -m xosan_lab``: a XOSAN storage cluster on this machine (root only).

The lab has its own command, not a subcommand of ``xosan``: the product never imports the lab."""

import argparse
import json
import os
import sys
import time

from xosan import facts
from xosan.errors import XosanError
from xosan.gluster import GlusterCLI, health
from xosan_lab.cluster import Lab
from xosan_lab.node import LabError

DEFAULT_WORKDIR = "/var/lib/xosan-lab"


def build_parser():
    lab = argparse.ArgumentParser(prog="python -m xosan_lab",
                                  description="A XOSAN lab on this machine (root): storage nodes as network "
                                              "namespaces with real GlusterFS, lab dom0s, a XAPI simulator.")
    lab.add_argument("--workdir", default=os.environ.get("XOSAN_LAB_DIR", DEFAULT_WORKDIR),
                     help="where the lab keeps its state and node folders (default %(default)s)")
    sub = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="the main job: a simulated pool, xosan deploy on it, a VDI, status")
    run.add_argument("--hosts", type=int, default=3)
    run.add_argument("--subnet", default="10.250.0")
    run.add_argument("--image", help="appliance to import (build/appliance/manifest.json after make appliance); "
                                     "default: a small stand-in VHD (the lab's storage VMs never boot it)")
    run.set_defaults(func=cmd_run)

    up = sub.add_parser("up", help="start the nodes and a started volume (idempotent)")
    up.add_argument("--nodes", type=int, default=3, help="storage nodes, 1-16 (default 3)")
    up.add_argument("--layout", default="auto",
                    choices=facts.LAYOUTS)
    up.add_argument("--volume", default="xosan")
    up.add_argument("--brick-size", default="2G", help="size of each node's XFS brick file (default 2G)")
    up.add_argument("--subnet", default="10.250.0", help="lab /24, first three octets (default %(default)s)")
    up.add_argument("--folder-bricks", action="store_true",
                    help="bricks as plain folders (only where loop devices are missing)")
    up.set_defaults(func=cmd_up)

    st = sub.add_parser("status", help="nodes, peers, bricks, heal state and capacity")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)

    down = sub.add_parser("down", help="remove everything the lab created")
    down.set_defaults(func=cmd_down)

    fail = sub.add_parser("fail", help="make a node fail")
    fail.add_argument("node", help="node name or number (e.g. 2 or n2)")
    fail.add_argument("--mode", choices=["kill", "cut"], default="kill",
                      help="kill: its processes die; cut: its network link goes down")
    fail.set_defaults(func=cmd_fail)

    heal = sub.add_parser("heal", help="bring a failed node back")
    heal.add_argument("node")
    heal.set_defaults(func=cmd_heal)
    return lab


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except XosanError as exc:
        sys.stderr.write("xosan-lab: error: %s\n" % exc)
        return 1


def parse_size(text):
    units = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
    text = text.strip().upper().rstrip("B").rstrip("I")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _require_root():
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, loop devices, mounts)")


def _loaded(args):
    lab = Lab.load(args.workdir)
    if lab is None:
        raise LabError("no lab in %s" % args.workdir, hint="Start one with: python -m xosan_lab up")
    return lab


def step(n, total, text):
    sys.stdout.write("[%d/%d] %s\n" % (n, total, text))
    sys.stdout.flush()


def cmd_up(args):
    _require_root()
    t0 = time.time()
    lab = Lab.load(args.workdir) or Lab.new(args.workdir, subnet=args.subnet, use_loop=not args.folder_bricks)
    step(1, 3, "starting %d storage node(s) on %s.0/24 (bridge %s)" % (args.nodes, lab.state["subnet"],
                                                                       lab.state["bridge"]))
    lab.up(args.nodes, brick_size=parse_size(args.brick_size))
    step(2, 3, "volume %s (%s layout)" % (args.volume, args.layout))
    if args.volume in lab.state["volumes"] and lab.volume_exists(args.volume):
        print("      exists, left as it is")
    else:
        lab.create_volume(args.volume, layout=args.layout)
    step(3, 3, "ready in %.0f s" % (time.time() - t0))
    print(render_status(lab, args.volume))
    print("\nMount it:  mount -t glusterfs -o backup-volfile-servers=%s %s:/%s /mnt" % (
        ":".join(n.ip for n in lab.nodes[1:]), lab.nodes[0].ip, args.volume))
    print("Stop it:   python -m xosan_lab down")
    return 0


def lab_cli(lab):
    """A GlusterCLI over SSH to the first node that answers, as the product reaches storage VMs."""
    for node in lab.nodes:
        if node.running() and not node.is_cut():
            target = lab.ssh_target(node)
            return GlusterCLI(runner=target.run, where=node.ip)
    raise LabError("no lab node is running and connected")


def render_status(lab, volume=None):
    lines = ["Nodes:"]
    for n in lab.nodes:
        state = "running" if n.running() else "STOPPED"
        if n.running() and n.is_cut():
            state = "CUT OFF"
        lines.append("  %-10s %-15s %-8s pid %s%s" % (n.name, n.ip, state, n.pid or "-",
                                                  ("  (%s)" % n.state["vm_name"]) if n.state.get("vm_name") else ""))
    if lab.hosts:
        lines.append("Simulated dom0s: %s" % ", ".join("%s %s" % (h.state.get("xapi_host", h.name), h.ip)
                                                      for h in lab.hosts))
    if lab.state.get("xapi"):
        lines.append("XAPI simulator: %s (pid %s)" % (lab.state["xapi"]["url"], lab.state["xapi"]["pid"]))
    for vol in ([volume] if volume else lab.state["volumes"]):
        try:
            lines.append(health.render(health.collect(lab_cli(lab), vol)))
        except XosanError as exc:
            lines.append("Volume %s: cannot get status: %s" % (vol, exc))
    return "\n".join(lines)


def cmd_run(args):
    _require_root()
    from xosan_lab import demo
    return demo.run(args.workdir, hosts=args.hosts, subnet=args.subnet, image=args.image)


def cmd_status(args):
    lab = _loaded(args)
    if args.json:
        out = {"nodes": [{"name": n.name, "ip": n.ip, "running": n.running(),
                          "cut": n.running() and n.is_cut()} for n in lab.nodes], "volumes": []}
        worst = 0
        for vol in lab.state["volumes"]:
            h = health.collect(lab_cli(lab), vol)
            worst = max(worst, h.exit_code)
            out["volumes"].append(h.as_dict())
        print(json.dumps(out, indent=2, sort_keys=True))
        return worst
    print(render_status(lab))
    return 0


def cmd_down(args):
    _require_root()
    lab = Lab.load(args.workdir)
    if lab is None:
        print("no lab state in %s: nothing to remove" % args.workdir)
        return 0
    n = len(lab.nodes)
    lab.down()
    print("lab removed: %d node(s), their loop devices, namespaces and bridge %s" % (n, lab.state["bridge"]))
    return 0


def cmd_fail(args):
    _require_root()
    lab = _loaded(args)
    node = lab.node(args.node)
    if args.mode == "cut":
        node.cut()
    else:
        node.kill()
    lab.save()
    print("%s: %s" % (node.name, "cut off the storage network" if args.mode == "cut" else "killed"))
    return 0


def cmd_heal(args):
    _require_root()
    lab = _loaded(args)
    node = lab.node(args.node)
    if node.running():
        node.reconnect()
    else:
        node.start()
    lab.save()
    print("%s: back (self-heal runs in the background; see python -m xosan_lab status)" % node.name)
    return 0
