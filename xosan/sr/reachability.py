"""Which storage nodes answer right now, asked in parallel with a short timeout.

GlusterFS 10's FUSE client gives up when its first volfile server is down
(the volfile request in flight is failed instead of retried on the backup
server: seen on Debian's 10.3), and the gluster CLI waits seconds per dead
host. Putting answering servers first avoids both.
"""

import socket
import threading

from xosan import facts


def answers(host, port=facts.GLUSTERD_PORT, timeout=2.0):
    # type: (str, int, float) -> bool
    try:
        conn = socket.create_connection((host, port), timeout=timeout)
    except (OSError, socket.timeout):
        return False
    conn.close()
    return True


def order_by_reachability(servers, port=facts.GLUSTERD_PORT, timeout=2.0):
    # type: (list, int, float) -> tuple
    """(answering servers in the given order, the others in the given order)."""
    results = {}

    def check(host):
        results[host] = answers(host, port, timeout)

    threads = [threading.Thread(target=check, args=(h,)) for h in servers]
    for t in threads:
        t.daemon = True
        t.start()
    for t in threads:
        t.join(timeout + 1)
    up = [h for h in servers if results.get(h)]
    down = [h for h in servers if not results.get(h)]
    return up, down
