"""One exception hierarchy for the whole package.

The driver maps these to SM error codes at its edge and the CLI prints them;
nothing inside ``xosan`` knows about SM error codes, so the same logic serves
both without a translation layer in every module.
"""


class XosanError(Exception):
    """Base class: ``str()`` is a sentence for the admin, ``hint`` says what to do."""

    def __init__(self, message, hint=None):
        Exception.__init__(self, message)
        self.message = message
        self.hint = hint

    def __str__(self):
        if self.hint:
            return "%s. %s" % (self.message.rstrip("."), self.hint)
        return self.message


class ConfigError(XosanError):
    """A device-config or manifest value is wrong; ``key`` names it."""

    def __init__(self, key, message, hint=None):
        XosanError.__init__(self, message, hint)
        self.key = key


class MissingKey(ConfigError):
    pass


class InvalidValue(ConfigError):
    pass


class CommandFailed(XosanError):
    """An external program exited non-zero; keeps its output for the log."""

    def __init__(self, cmd, returncode, stdout="", stderr="", message=None, hint=None):
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stdout = stdout or ""
        self.stderr = stderr or ""
        if message is None:
            detail = (self.stderr or self.stdout).strip().splitlines()
            message = "%s exited with %s%s" % (
                self.cmd[0] if self.cmd else "command", returncode,
                (": " + detail[-1]) if detail else "")
        XosanError.__init__(self, message, hint)


class CommandTimeout(CommandFailed):
    pass


class GlusterError(XosanError):
    """glusterd answered with an error (opRet != 0) or could not be reached."""

    def __init__(self, message, op_errno=None, hint=None):
        XosanError.__init__(self, message, hint)
        self.op_errno = op_errno


class ClusterWaitTimeout(GlusterError):
    """A bounded wait for a cluster state ran out; ``what`` names the state, ``last`` what was seen."""

    def __init__(self, message, what=None, last=None, hint=None):
        GlusterError.__init__(self, message, hint=hint)
        self.what = what
        self.last = last


class ServerUnreachable(GlusterError):
    pass


class VolumeNotFound(GlusterError):
    pass


class LinkLost(GlusterError):
    """The channel to a storage node (SSH) failed, so whether a command ran there is unknown.

    A GlusterError because every caller that copes with glusterd failing must cope with this
    too; a class of its own because only a read-only query may be repeated blindly after it."""


class DeployError(XosanError):
    """A deployment step cannot go on (the pool lacks something the manifest asks for)."""


class MountError(XosanError):
    pass


class UnmountError(MountError):
    pass


class SRExists(XosanError):
    """The SR's directory on the volume already holds data."""


class SRNotFound(XosanError):
    """The SR's directory is missing from the volume."""


class QuorumTimeout(XosanError):
    pass


class GCUnavailable(XosanError):
    """The SM framework's garbage collector would not run on this SR."""
