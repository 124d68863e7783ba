"""What runs in dom0 for an SR: device-config, the SR on a volume, FUSE mounts, the
boot-order attach, garbage collection and the one-pass VHD scan. The driver
(drivers/XOSANSR.py) maps SM calls onto this package and nothing else of XOSAN's
orchestration; it needs no XAPI session of its own beyond the SM framework's.
"""
