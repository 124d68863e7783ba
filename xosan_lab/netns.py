"""Network namespaces on the lab bridge: what storage nodes and simulated dom0s have in common.

A namespace is described by a state dict with "netns", "veth" (its bridge-side end),
"bridge", "ip" and "prefixlen"; inside, the other end is eth0.
"""

from xosan import proc


def sh(cmd, timeout=60, check=True):
    return proc.run(cmd, timeout=timeout, check=check)


def netns_exists(name):
    res = sh(["ip", "netns", "list"], check=False)
    return any(line.split()[0] == name for line in res.stdout.splitlines() if line.strip())


def netns_pids(name):
    res = sh(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in res.stdout.split() if p.strip().isdigit()]


def link_exists(name):
    return sh(["ip", "link", "show", name], check=False).returncode == 0


def plug(s):
    """Create (idempotently) the namespace, its veth on the bridge and its address."""
    if not netns_exists(s["netns"]):
        sh(["ip", "netns", "add", s["netns"]])
    if not link_exists(s["veth"]):
        sh(["ip", "link", "add", s["veth"], "type", "veth", "peer", "name", "eth0", "netns", s["netns"]])
    sh(["ip", "link", "set", s["veth"], "master", s["bridge"], "up"])
    sh(["ip", "-n", s["netns"], "addr", "replace", "%s/%d" % (s["ip"], s["prefixlen"]), "dev", "eth0"])
    sh(["ip", "-n", s["netns"], "link", "set", "eth0", "up"])
    sh(["ip", "-n", s["netns"], "link", "set", "lo", "up"])


def unplug(s):
    """Remove the namespace (its eth0 goes with it) and the bridge-side veth if still there."""
    if netns_exists(s["netns"]):
        sh(["ip", "netns", "del", s["netns"]])
    if link_exists(s["veth"]):
        sh(["ip", "link", "del", s["veth"]], check=False)


def block(s, address):
    """Drop the namespace's traffic to ``address`` (a partition)."""
    sh(["ip", "-n", s["netns"], "route", "replace", "blackhole", "%s/32" % address])


def unblock(s, address):
    sh(["ip", "-n", s["netns"], "route", "del", "blackhole", "%s/32" % address], check=False)
