"""XOSAN's health facts for Prometheus, as a node_exporter textfile.

Admins who watch their pools with Prometheus run node_exporter in dom0 with its textfile
collector; a file ``*.prom`` in its directory is read on every scrape. The facts are the
host plugin's (plugin.status_report, the same report the alerts and Xen Orchestra read),
so Prometheus, XAPI alerts and ``xosan status`` never disagree on a verdict.

Written by the alerts timer on every host, not only the master: each host's node_exporter
serves its own file, and what a host sees (its PBD attached, the storage nodes it can
reach) is that host's fact. The file is replaced whole (written beside it, then renamed),
so a scrape never reads half of it.
"""

import os
import time

from xosan.gluster import health

TEXTFILE_DIR = "/var/lib/node_exporter/textfile_collector"  # node_exporter's usual --collector.textfile.directory
FILE_NAME = "xosan.prom"
VERDICTS = (health.HEALTHY, health.DEGRADED, health.AT_RISK, "unknown")

HELP = (
    ("xosan_sr_verdict", "1 for the SR's current verdict (healthy, degraded, at-risk, unknown), 0 for the others"),
    ("xosan_sr_may_fail_nodes", "how many more storage nodes may fail with I/O going on"),
    ("xosan_sr_attached", "1 when the SR's PBD on this host is plugged"),
    ("xosan_sr_heal_pending", "entries waiting for self-heal, summed over the bricks"),
    ("xosan_sr_split_brain", "entries in split-brain, summed over the bricks"),
    ("xosan_sr_capacity_bytes", "usable capacity of the volume"),
    ("xosan_sr_free_bytes", "usable free space of the volume"),
    ("xosan_brick_online", "1 when glusterd lists the brick online"),
    ("xosan_brick_heal_pending", "entries this brick holds for others to heal"),
    ("xosan_brick_size_bytes", "size of the brick's file system"),
    ("xosan_brick_free_bytes", "free space of the brick's file system"),
    ("xosan_report_timestamp_seconds", "when this host last wrote the file (stale file: the timer stopped)"),
)


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**kw):
    return "{%s}" % ",".join('%s="%s"' % (k, _escape(v)) for k, v in sorted(kw.items()) if v is not None)


def render(report, host_uuid=None, now=None):
    # type: (dict, str, float) -> str
    """The exposition text of one status_report. A fact that is unknown (heal counts glfsheal
    could not give, a size of a brick that is down) is left out rather than written as 0: a
    0 would read as "nothing to heal"."""
    samples = dict((name, []) for name, _ in HELP)
    for sr in report.get("srs") or []:
        sr_l = {"sr_uuid": sr["uuid"], "sr_name": sr.get("name") or ""}
        verdict = sr.get("verdict") if sr.get("verdict") in VERDICTS else "unknown"
        for v in VERDICTS:
            samples["xosan_sr_verdict"].append((dict(sr_l, verdict=v), 1 if v == verdict else 0))
        for key, name in (("may_fail", "xosan_sr_may_fail_nodes"), ("heal_pending", "xosan_sr_heal_pending"),
                          ("split_brain", "xosan_sr_split_brain")):
            if isinstance(sr.get(key), int):
                samples[name].append((sr_l, sr[key]))
        cap = sr.get("capacity") or {}
        if cap.get("total") is not None:
            samples["xosan_sr_capacity_bytes"].append((sr_l, cap["total"]))
        if cap.get("free") is not None:
            samples["xosan_sr_free_bytes"].append((sr_l, cap["free"]))
        for h in sr.get("hosts") or []:
            if host_uuid is None or h.get("uuid") == host_uuid:
                samples["xosan_sr_attached"].append((dict(sr_l, host=h.get("name")), 1 if h.get("attached") else 0))
        for b in sr.get("bricks") or []:
            b_l = dict(sr_l, brick=b["name"], role="arbiter" if b.get("arbiter") else "data")
            samples["xosan_brick_online"].append((b_l, 1 if b.get("online") else 0))
            for key, name in (("heal_pending", "xosan_brick_heal_pending"), ("size_total", "xosan_brick_size_bytes"),
                              ("size_free", "xosan_brick_free_bytes")):
                if isinstance(b.get(key), int):
                    samples[name].append((b_l, b[key]))
    samples["xosan_report_timestamp_seconds"].append(({}, int(now if now is not None else time.time())))
    lines = []
    for name, text in HELP:
        if not samples[name]:
            continue
        lines.append("# HELP %s %s" % (name, text))
        lines.append("# TYPE %s gauge" % name)
        lines += ["%s%s %s" % (name, _labels(**labels) if labels else "", value) for labels, value in samples[name]]
    return "\n".join(lines) + "\n"


def write(text, directory=TEXTFILE_DIR):
    # type: (str, str) -> object
    """Replace ``directory``/xosan.prom with ``text``; the path, or None when the directory does
    not exist (node_exporter not set up on this host: nothing to feed, and nothing is created)."""
    if not os.path.isdir(directory):
        return None
    path = os.path.join(directory, FILE_NAME)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)
    return path
