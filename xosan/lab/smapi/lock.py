"""Test double of dom0's ``lock``: flock files under $XOSAN_TEST_LOCK_DIR (default /var/lock/sm)."""

import fcntl
import os
import shutil

LOCK_DIR = os.environ.get("XOSAN_TEST_LOCK_DIR", "/var/lock/sm")


class Lock(object):
    def __init__(self, name, ns=None):
        self.ns = ns or "default"
        self.name = name
        self.path = os.path.join(LOCK_DIR, self.ns, self.name)
        self._fd = None

    def acquire(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._fd = open(self.path, "a")
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def acquireNoblock(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._fd = open(self.path, "a")
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            self._fd.close()
            self._fd = None
            return False

    def release(self):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._fd.close()
            self._fd = None

    def held(self):
        return self._fd is not None

    @staticmethod
    def cleanup(name, ns=None):
        try:
            os.unlink(os.path.join(LOCK_DIR, ns or "default", name))
        except OSError:
            pass

    @staticmethod
    def cleanupAll(ns=None):
        shutil.rmtree(os.path.join(LOCK_DIR, ns or "default"), ignore_errors=True)
