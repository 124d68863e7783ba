"""Running external programs with a deadline.

Every command the driver runs can hang on a dead network peer; xapi would
then wait forever on the SM call, so every call here has a timeout.
"""

import subprocess

from xosan.errors import CommandFailed, CommandTimeout


def run(cmd, timeout=60, check=True, input_text=None):
    # type: (list, float, bool, str) -> subprocess.CompletedProcess
    """Run ``cmd`` (a list), return the CompletedProcess with text output."""
    try:
        res = subprocess.run(
            list(cmd), input=input_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise CommandTimeout(cmd, None, _text(exc.stdout), _text(exc.stderr),
                             message="%s did not finish within %s s" % (cmd[0], timeout))
    except OSError as exc:
        raise CommandFailed(cmd, None, "", str(exc),
                            message="cannot run %s: %s" % (cmd[0], exc.strerror or exc))
    if check and res.returncode != 0:
        raise CommandFailed(cmd, res.returncode, res.stdout, res.stderr)
    return res


def _text(data):
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data
