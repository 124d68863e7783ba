"""Tests call the driver through the lab's runner: the real XML-RPC request/response path."""

from xosan_lab.smrunner import DRIVER, Driver, SMFault, unwrap  # noqa: F401
