"""The lab dom0's systemctl stand-in reads units as systemd does (systemd.unit(5)), so what the
contract suite proves about the GC drop-in holds on a real dom0: priorities, reset, reload."""

import os

from xosan.sr import gc
from xosan_lab import systemctl

SR = "0d5a7af9-1c2b-4d3e-8f90-a1b2c3d4e5f6"
SM_UNIT = "[Service]\nType=oneshot\nExecStart=/opt/xensource/sm/cleanup.py -g -u %I\n"


def dirs(tmp_path):
    out = tuple(str(tmp_path / d) for d in ("etc", "run", "lib"))
    for d in out:
        os.makedirs(d)
    with open(os.path.join(out[2], "SMGC@.service"), "w") as fh:
        fh.write(SM_UNIT)
    return out


def test_the_sm_unit_alone_runs_cleanup_for_the_instance(tmp_path):
    unit = systemctl.load(gc.instance(SR), dirs(tmp_path))
    assert unit["exec"] == ["/opt/xensource/sm/cleanup.py -g -u %s" % SR]  # %I: unescaped


def test_the_drivers_drop_in_replaces_the_command_of_this_instance_only(tmp_path):
    etc, run, lib = dirs(tmp_path)
    path = gc.dropin_path(SR, run)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        fh.write(gc.dropin_text("/opt/xensource/sm/xosan-gc"))
    assert systemctl.load(gc.instance(SR), (etc, run, lib))["exec"] == [
        "/opt/xensource/sm/xosan-gc -g -u %s" % SR]
    other = "11111111-2222-3333-4444-555555555555"
    assert systemctl.load(gc.instance(other), (etc, run, lib))["exec"] == [
        "/opt/xensource/sm/cleanup.py -g -u %s" % other]


def test_a_same_named_drop_in_in_etc_wins_over_run(tmp_path):
    etc, run, lib = dirs(tmp_path)
    for d, program in ((run, "/opt/xensource/sm/xosan-gc"), (etc, "/usr/local/bin/admin-gc")):
        path = gc.dropin_path(SR, d)
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as fh:
            fh.write(gc.dropin_text(program))
    assert systemctl.load(gc.instance(SR), (etc, run, lib))["exec"] == ["/usr/local/bin/admin-gc -g -u %s" % SR]


def test_a_loaded_unit_is_kept_until_daemon_reload(tmp_path):
    etc, run, lib = dirs(tmp_path)
    sd = systemctl.Systemd(str(tmp_path / "state"), (etc, run, lib))
    assert "cleanup.py" in sd.unit(gc.instance(SR))["exec"][0]
    path = gc.dropin_path(SR, run)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        fh.write(gc.dropin_text("/opt/xensource/sm/xosan-gc"))
    assert "cleanup.py" in sd.unit(gc.instance(SR))["exec"][0]  # no reload: still the old command
    sd.daemon_reload()
    assert "xosan-gc" in sd.unit(gc.instance(SR))["exec"][0]


def test_instance_names_escape_dashes_as_systemd_does():
    assert gc.instance(SR) == "SMGC@0d5a7af9\\x2d1c2b\\x2d4d3e\\x2d8f90\\x2da1b2c3d4e5f6.service"
    assert systemctl.unescape("0d5a7af9\\x2d1c2b") == "0d5a7af9-1c2b"


def test_an_unchanged_drop_in_costs_no_systemctl_call(tmp_path):
    """_kickGC installs the drop-in before every kick (every sr_scan): only a (re)write reloads
    systemd and asks it which command it will run."""
    log = tmp_path / "calls"
    fake = tmp_path / "systemctl"
    fake.write_text("#!/bin/sh\necho \"$@\" >> %s\n"
                    "[ \"$1\" = show ] && echo 'ExecStart={ path=/opt/xensource/sm/xosan-gc ; }'\nexit 0\n" % log)
    fake.chmod(0o755)
    run = str(tmp_path / "run")
    for _ in range(3):
        gc.install_dropin(SR, "/opt/xensource/sm/xosan-gc", unit_dir=run, systemctl=str(fake))
    assert log.read_text().split("\n")[:-1] == ["daemon-reload", "show --property=ExecStart %s" % gc.instance(SR)]
