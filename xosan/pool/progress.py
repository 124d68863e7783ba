"""What deploy and the day-2 operations print while they work.

Their steps take minutes (an appliance upload, a heal); numbered steps with indented
details tell the admin where a long run is and, when it stops, which step to look at.
"""

import sys
import time


class Progress(object):
    def __init__(self, total, out=None):
        self.total = total
        self.n = 0
        self.out = out or sys.stdout
        self.t0 = time.time()

    def step(self, text):
        self.n += 1
        self.out.write("[%d/%d] %s\n" % (self.n, self.total, text))
        self.out.flush()

    def info(self, text):
        self.out.write("      %s\n" % text)
        self.out.flush()

