"""Test double of dom0's ``cleanup`` (the VHD garbage collector / coalescer).

The double's snapshots are full copies (see vhdutil), so there is no chain to
coalesce: these entry points only log that they were called.
"""

import util


def abort(srUuid, soft=False):
    util.SMlog("cleanup.abort(%s)" % srUuid)
    return True


def gc_force(session, srUuid, force=False, dryRun=False, lockSR=False):
    util.SMlog("cleanup.gc_force(%s)" % srUuid)


def start_gc_service(sr_uuid, wait=False):
    util.SMlog("cleanup.start_gc_service(%s)" % sr_uuid)
