"""XOSAN: hyperconverged GlusterFS storage for XenServer / XCP-ng pools.

Everything in this package except ``xosan.lab`` runs in dom0 and must stay
Python 3.6 compatible (XCP-ng 8.3 / XenServer 8).
"""

__version__ = "0.1.0"
