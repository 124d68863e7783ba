"""Running external programs with a deadline, and saying so in the log.

Every command the driver runs can hang on a dead network peer; xapi would
then wait forever on the SM call, so every call here has a timeout. In dom0
every command and its outcome also goes to SMlog, as the framework's own
util.pread logs its commands: the driver hands its logger to ``log_to``, so an
admin reading /var/log/SMlog sees what ran (mount, umount, gluster, systemctl,
...) and why it failed. Outside the driver (CLI, lab) nothing is logged here.
"""

import subprocess

from xosan.errors import CommandFailed, CommandTimeout

_LOG = [None]
_LOGGED_OUTPUT = 400  # characters of stdout/stderr kept in a log line


def log_to(logger):
    """Send every command and its outcome to ``logger`` (a function of one string), or stop (None)."""
    _LOG[0] = logger


def _log(text):
    if _LOG[0] is not None:
        try:
            _LOG[0](text)
        except Exception:  # a broken log must never fail the storage operation
            pass


def run(cmd, timeout=60, check=True, input_text=None):
    # type: (list, float, bool, str) -> subprocess.CompletedProcess
    """Run ``cmd`` (a list), return the CompletedProcess with text output."""
    _log("xosan: run %s" % (list(cmd),))
    try:
        res = subprocess.run(
            list(cmd), input=input_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _log("xosan:   TIMEOUT after %s s: %s" % (timeout, cmd[0]))
        raise CommandTimeout(cmd, None, _text(exc.stdout), _text(exc.stderr),
                             message="%s did not finish within %s s" % (cmd[0], timeout))
    except OSError as exc:
        _log("xosan:   FAILED to start %s: %s" % (cmd[0], exc))
        raise CommandFailed(cmd, None, "", str(exc),
                            message="cannot run %s: %s" % (cmd[0], exc.strerror or exc))
    if res.returncode == 0:
        _log("xosan:   SUCCESS")
    else:
        _log("xosan:   FAILED (rc %d) stdout: %r, stderr: %r" % (
            res.returncode, res.stdout.strip()[-_LOGGED_OUTPUT:], res.stderr.strip()[-_LOGGED_OUTPUT:]))
    if check and res.returncode != 0:
        raise CommandFailed(cmd, res.returncode, res.stdout, res.stderr)
    return res


def _text(data):
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data
