"""Garbage collection and coalesce on xosan SRs, by the SM framework's own FileSR GC.

The framework's cleanup.py picks its GC class from the SR's type through a fixed list
(``cleanup.normalizeType``): 'xosan' is not in it, so every GC run on a xosan SR, forced or
in the background, dies with "Unsupported SR type" and deleted snapshots never give their
space back. A xosan SR is a file SR (VHD files in a directory, like nfs and glusterfs), so
the right GC is cleanup's own FileSR class. The framework runs GC in two places, and each
gets a hook that edits no file of the sm package, so both keep working across sm updates:

- in the driver's process (sr_delete -> FileSR.delete -> cleanup.gc_force): ``register``
  teaches the imported cleanup module that xosan is a file SR;
- in a process of its own (FileSR._kickGC after scan and vdi_delete -> ``systemctl start
  SMGC@<sr>``; also sm's stop_all_gc and an admin's ``systemctl start SMGC@...``): a drop-in
  for this SR's instance of the sm package's SMGC@.service makes systemd run ``xosan-gc``
  (cleanup's own main, with the type registered) instead of cleanup.py. The drop-in lives
  under /run/systemd/system: written at attach, removed at detach, gone at reboot with the
  mount it serves. Only this SR's instance is changed; every other SR's GC is the sm
  package's, untouched.

Attach checks both (``check``) and fails with a sentence when either cannot work, rather
than attach an SR whose space would silently never be reclaimed.
"""

import os

from xosan import proc
from xosan.errors import GCUnavailable

XOSAN_TYPE = "xosan"
SYSTEMCTL = "/usr/bin/systemctl"
RUN_UNIT_DIR = "/run/systemd/system"
DROPIN_NAME = "50-xosan-gc.conf"
GC_UNIT = "SMGC@.service"
_MARK = "_xosan_registered"


def register(cleanup):
    """Make ``cleanup`` (the imported framework module) treat xosan SRs as file SRs."""
    original = cleanup.normalizeType
    if getattr(original, _MARK, False):
        return
    file_type = cleanup.SR.TYPE_FILE

    def normalize_type(sr_type):
        if sr_type == XOSAN_TYPE:
            return file_type
        return original(sr_type)

    setattr(normalize_type, _MARK, True)
    normalize_type.__doc__ = original.__doc__
    cleanup.normalizeType = normalize_type


def check(cleanup):
    """Raise GCUnavailable unless the framework's GC will take a xosan SR."""
    try:
        register(cleanup)
        answer = cleanup.normalizeType(XOSAN_TYPE)
        expected = cleanup.SR.TYPE_FILE
    except Exception as exc:  # the sm package changed the names this relies on
        raise GCUnavailable("the SM framework's cleanup module cannot be taught the xosan SR type (%s: %s)"
                            % (exc.__class__.__name__, exc),
                            hint="this xosan release does not fit the installed sm package: update xosan")
    if answer != expected:
        raise GCUnavailable("the SM framework's cleanup module maps xosan to %r, not to its file SR GC" % answer,
                            hint="this xosan release does not fit the installed sm package: update xosan")


def instance(sr_uuid):
    """SMGC@.service's instance name for an SR, escaped as systemd escapes '-' in %i."""
    return "SMGC@%s.service" % sr_uuid.replace("-", "\\x2d")


def dropin_path(sr_uuid, unit_dir=RUN_UNIT_DIR):
    return os.path.join(unit_dir, instance(sr_uuid) + ".d", DROPIN_NAME)


def dropin_text(gc_program):
    # An empty ExecStart= first clears the sm unit's own command (systemd.service(5)).
    return ("# Written by XOSAN's driver at SR attach, removed at detach. cleanup.py accepts a\n"
            "# fixed list of SR types; xosan-gc runs cleanup's own main with xosan added.\n"
            "[Service]\n"
            "ExecStart=\n"
            "ExecStart=%s -g -u %%I\n" % gc_program)


def install_dropin(sr_uuid, gc_program, unit_dir=RUN_UNIT_DIR, systemctl=SYSTEMCTL):
    """Point this SR's SMGC@ instance at ``gc_program``. Called before every GC kick (every
    sr_scan: xapi scans each 30 s), so an unchanged drop-in costs one file read, nothing more.
    When it is (re)written (first kick after a boot or attach), systemd is reloaded and asked
    which command it will run: a systemd that did not take the drop-in (read-only /run, a unit
    renamed by an sm update) is an error, not a silent one."""
    path = dropin_path(sr_uuid, unit_dir)
    text = dropin_text(gc_program)
    try:
        with open(path) as fh:
            current = fh.read()
    except (IOError, OSError):
        current = None
    if current == text:
        return path
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.rename(tmp, path)
    except OSError as exc:
        raise GCUnavailable("cannot write %s: %s" % (path, exc.strerror or exc),
                            hint="garbage collection of this SR needs that file; check that %s is writable"
                            % unit_dir)
    _systemctl(systemctl, ["daemon-reload"])
    shown = _systemctl(systemctl, ["show", "--property=ExecStart", instance(sr_uuid)])
    if gc_program not in shown:
        raise GCUnavailable("systemd will not run %s for %s (it shows %r)" % (gc_program, instance(sr_uuid),
                                                                              shown.strip()),
                            hint="check `systemctl cat %s`: a drop-in of higher priority may override %s"
                            % (instance(sr_uuid), path))
    return path


def remove_dropin(sr_uuid, unit_dir=RUN_UNIT_DIR, systemctl=SYSTEMCTL):
    """Hand this SR's SMGC@ instance back to the sm package (detach, delete)."""
    path = dropin_path(sr_uuid, unit_dir)
    if not os.path.exists(path):
        return False
    os.unlink(path)
    try:
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass
    try:
        _systemctl(systemctl, ["daemon-reload"])
    except GCUnavailable:
        pass  # the file is gone; systemd forgets it at its next reload (the failure is in SMlog)
    return True


def _systemctl(systemctl, args):
    try:
        return proc.run([systemctl] + args, timeout=60).stdout
    except Exception as exc:
        raise GCUnavailable("systemctl %s failed: %s" % (" ".join(args), exc))


def main(cleanup):
    """xosan-gc: cleanup.py's command line (sys.argv), on xosan SRs too."""
    register(cleanup)
    cleanup.main()
