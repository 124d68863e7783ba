"""Delay and loss on the packets a network namespace receives, without the kernel's netem.

This machine's kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not set) and no device-mapper,
so `tc qdisc ... netem delay 200ms loss 5%` cannot run here. What it has is netfilter's NFQUEUE:
an iptables rule hands every packet arriving on the namespace's eth0 to this process, which drops
a share of them at once and lets the others in after the delay, in arrival order (one batch verdict
per tick releases every packet whose time has come). The rule's --queue-bypass lets packets through
unharmed whenever this process is gone.

Why incoming, not outgoing as netem on the node's veth would: a packet held on its sender's own
OUTPUT hook still counts against the sending socket (TCP small queues, BBR's pacing), which
throttled a bulk transfer to ~0 MB/s at 200 ms; held after it crossed the veth it does not
(measured: 7.8 MB/s at 200 ms, 3.3 MB/s at 200 ms and 5 % loss). Every connection of the node
still gets the 200 ms added to its round trip, and the node's incoming data, requests and ACKs
lose 5 %.

Run inside the namespace (bench/chaos.py does, and removes the rule before it stops this):

    ip netns exec NS python3 bench/netdelay.py --queue 7 --delay 0.2 --loss 0.05

Speaks the nfnetlink_queue protocol directly (no library needed): bind the queue, copy no payload,
keep GSO packets whole (fewer, larger packets to hold), then read packet ids and send verdicts.
"""

import argparse
import collections
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG, NFQNL_MSG_VERDICT_BATCH = 0, 1, 2, 3
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
NFQNL_CFG_CMD_BIND, NFQNL_CFG_CMD_UNBIND = 1, 2
NFQNL_COPY_META = 1
NFQA_CFG_F_GSO = 4
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_DROP, NF_ACCEPT = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NLMSG_HDR = struct.Struct("=IHHII")
NFGEN = struct.Struct("=BBH")  # family, version, res_id (big endian, packed by hand)


def _attr(kind, payload):
    pad = (4 - len(payload) % 4) % 4
    return struct.pack("=HH", 4 + len(payload), kind) + payload + b"\0" * pad


class Queue(object):
    def __init__(self, number):
        self.number = number
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 * 1024 * 1024)  # SO_RCVBUFFORCE (root)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        self.sock.bind((0, 0))
        self.seq = 0

    def _send(self, msg_type, attrs, flags=NLM_F_REQUEST):
        self.seq += 1
        body = NFGEN.pack(socket.AF_UNSPEC, 0, socket.htons(self.number)) + b"".join(attrs)
        self.sock.send(NLMSG_HDR.pack(NLMSG_HDR.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type,
                                      flags, self.seq, 0) + body)

    def _config(self, attrs):
        self._send(NFQNL_MSG_CONFIG, attrs, NLM_F_REQUEST | NLM_F_ACK)
        data = self.sock.recv(65536)
        length, kind = NLMSG_HDR.unpack_from(data)[:2]
        if kind == NLMSG_ERROR:
            err = struct.unpack_from("=i", data, NLMSG_HDR.size)[0]
            if err:
                raise OSError(-err, "nfqueue config: %s" % os.strerror(-err))

    def bind(self, maxlen=65536):
        self._config([_attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET))])
        self._config([_attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)),
                      _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", maxlen)),
                      _attr(NFQA_CFG_FLAGS, struct.pack("!I", NFQA_CFG_F_GSO)),
                      _attr(NFQA_CFG_MASK, struct.pack("!I", NFQA_CFG_F_GSO))])

    def unbind(self):
        try:
            self._config([_attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_UNBIND, 0, socket.AF_INET))])
        except OSError:
            pass

    def packets(self):
        """Ids of the packets in what the kernel has sent so far (never blocks)."""
        ids = []
        while True:
            try:
                data = self.sock.recv(1024 * 1024, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return ids
            pos = 0
            while pos + NLMSG_HDR.size <= len(data):
                length, kind = NLMSG_HDR.unpack_from(data, pos)[:2]
                if length < NLMSG_HDR.size:
                    break
                if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    a = pos + NLMSG_HDR.size + NFGEN.size
                    while a + 4 <= pos + length:
                        alen, atype = struct.unpack_from("=HH", data, a)
                        if alen < 4:
                            break
                        if atype & 0x3fff == NFQA_PACKET_HDR:
                            ids.append(struct.unpack_from("!I", data, a + 4)[0])
                            break
                        a += (alen + 3) & ~3
                pos += (length + 3) & ~3

    def verdict(self, packet_id, verdict, batch=False):
        self._send(NFQNL_MSG_VERDICT_BATCH if batch else NFQNL_MSG_VERDICT,
                   [_attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id))])


def run(queue, delay, loss, seed=None):
    rng = random.Random(seed)
    held = collections.deque()  # (due, id), in arrival order
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    queue.bind()
    sys.stdout.write("bound queue %d: delay %.3f s, loss %.1f %%\n" % (queue.number, delay, loss * 100))
    sys.stdout.flush()
    last_id = None
    while not stop:
        wait = max(0.0, held[0][0] - time.monotonic()) if held else 0.5
        try:
            select.select([queue.sock], [], [], min(wait, 0.5))
        except InterruptedError:
            pass
        now = time.monotonic()
        for pid in queue.packets():
            last_id = pid
            if loss and rng.random() < loss:
                queue.verdict(pid, NF_DROP)
            else:
                held.append((now + delay, pid))
        release = None
        while held and held[0][0] <= time.monotonic():
            release = held.popleft()[1]
        if release is not None:
            queue.verdict(release, NF_ACCEPT, batch=True)
    if last_id is not None:  # let whatever is still held go, late rather than lost
        queue.verdict(last_id, NF_ACCEPT, batch=True)
    queue.unbind()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queue", type=int, required=True)
    ap.add_argument("--delay", type=float, default=0.2, help="seconds each packet is held (default 0.2)")
    ap.add_argument("--loss", type=float, default=0.05, help="share of packets dropped (default 0.05)")
    args = ap.parse_args(argv)
    if not 0 <= args.loss < 1 or args.delay < 0:
        ap.error("--loss must be in [0, 1) and --delay >= 0")
    run(Queue(args.queue), args.delay, args.loss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
