"""XOSAN: hyperconverged GlusterFS storage for XenServer / XCP-ng pools.

Everything in this package runs in dom0 (the lab is xosan_lab, apart) and must stay
Python 3.6 compatible (XCP-ng 8.3 / XenServer 8).
"""

__version__ = "0.1.0"
