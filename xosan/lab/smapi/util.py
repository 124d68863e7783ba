"""Test double of dom0's sm ``util`` module: only what XOSANSR and this double use.

Leaves out: syslog (SMlog appends to $SMLOG_FILE, or stderr), fist points,
multipath, the pool-wide helpers that need a real xapi (get_this_host reads
$XOSAN_TEST_HOST_UUID instead of /etc/xensource-inventory).
"""

import errno
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
import uuid as uuidlib
import xml.dom.minidom
import xmlrpc.client

IORETRY_MAX = 20
IORETRY_PERIOD = 1.0
LOG_INFO = 6
LOG_DEBUG = 7
LOG_ERR = 3


class SMException(Exception):
    pass


class CommandException(SMException):
    def __init__(self, code, cmd="", reason="exec failed"):
        self.code = code
        self.cmd = cmd
        self.reason = reason
        Exception.__init__(self, os.strerror(abs(code)) if code else "Success")


def SMlog(message, ident="SM", priority=LOG_INFO):
    line = "%s %s[%d] %s\n" % (time.strftime("%b %d %H:%M:%S"), ident, os.getpid(), message)
    target = os.environ.get("SMLOG_FILE")
    if target:
        with open(target, "a") as fh:
            fh.write(line)
    else:
        sys.stderr.write(line)


def logException(tag):
    SMlog("Exception in %s: %s" % (tag, traceback.format_exc()))


def pread(cmdlist, close_stdin=False, scramble=None, expect_rc=0, quiet=False, new_env=None, text=True):
    proc = subprocess.Popen(cmdlist, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL if close_stdin else None,
                            universal_newlines=text)
    out, err = proc.communicate()
    if proc.returncode != expect_rc:
        if not quiet:
            SMlog("FAILED in util.pread: (rc %d) stdout: '%s', stderr: '%s'" % (proc.returncode, out, err))
        raise CommandException(proc.returncode, str(cmdlist), err.strip() if text else err)
    return out


def pread2(cmdlist, quiet=False, text=True):
    return pread(cmdlist, quiet=quiet, text=text)


def ioretry(f, errlist=[errno.EIO], maxretry=IORETRY_MAX, period=IORETRY_PERIOD, **ignored):  # noqa: B006 (dom0's signature)
    retries = 0
    while True:
        try:
            return f()
        except OSError as ose:
            err = int(ose.errno)
            if err not in errlist:
                raise CommandException(err, str(f), "OSError")
        except CommandException as ce:
            if int(ce.code) not in errlist:
                raise
        retries += 1
        if retries >= maxretry:
            break
        time.sleep(period)
    raise CommandException(errno.ETIMEDOUT, str(f), "Timeout")


def pathexists(path):
    try:
        os.lstat(path)
        return True
    except OSError as inst:
        if inst.errno == errno.EIO:
            time.sleep(1)
            try:
                listdir(os.path.realpath(os.path.dirname(path)))
                os.lstat(path)
                return True
            except Exception:
                pass
            raise CommandException(errno.EIO, "os.lstat(%s)" % path, "failed")
        return False


def listdir(path, quiet=False):
    try:
        return os.listdir(path)
    except OSError as e:
        raise CommandException(e.errno, "listdir(%s)" % path, e.strerror)


def makedirs(name, mode=0o777):
    head, tail = os.path.split(name)
    if not tail:
        head, tail = os.path.split(head)
    if head and tail and not pathexists(head):
        makedirs(head, mode)
        if tail == os.curdir:
            return
    try:
        os.mkdir(name, mode)
    except OSError as e:
        if e.errno == errno.EEXIST and os.path.isdir(name):
            return
        raise CommandException(e.errno, "makedirs(%s)" % name, e.strerror)


def isdir(path):
    return os.path.isdir(path)


def ismount(path):
    return os.path.ismount(path)


def force_unlink(path):
    try:
        os.unlink(path)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise


def gen_uuid():
    return str(uuidlib.uuid4())


_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def match_uuid(s):
    return _UUID_RE.match(s) is not None


def exactmatch_uuid(s):
    return match_uuid(s)


def default(self, field, thunk):
    try:
        return getattr(self, field)
    except AttributeError:
        return thunk()


def get_fs_size(path):
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize


def get_fs_utilisation(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def find_executable(name):
    return shutil.which(name)


def isLegalXMLString(s):
    if not s:
        return True
    return re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", s) is None


def hidePasswdInParams(params, configProp):
    return params


def start_log_entry(srpath, path, args):
    pass


def end_log_entry(srpath, path, args):
    pass


def get_this_host():
    return os.environ.get("XOSAN_TEST_HOST_UUID", "00000000-0000-0000-0000-000000000001")


def set_dirty(session, sr):
    pass


def list_VDI_records_in_sr(sr):
    return sr.session.xenapi.VDI.get_all_records_where('field "SR" = "%s"' % sr.sr_ref)


def sr_get_driver_info(driver_info):
    results = {}
    for key in ["name", "description", "vendor", "copyright", "driver_version", "required_api_version"]:
        results[key] = driver_info[key]
    caps = list(driver_info["capabilities"])
    if "ATOMIC_PAUSE" in caps:
        for cap in ("VDI_ACTIVATE", "VDI_DEACTIVATE"):
            if cap not in caps:
                caps.append(cap)
    results["capabilities"] = caps
    results["configuration"] = [{"key": k, "description": d} for k, d in driver_info["configuration"]]
    return xmlrpc.client.dumps((results,), "", True)


def return_nil():
    return xmlrpc.client.dumps((None,), "", True, allow_none=True)


def SRtoXML(SRlist):
    dom = xml.dom.minidom.Document()
    top = dom.createElement("SRlist")
    dom.appendChild(top)
    for key, info in SRlist.items():
        entry = dom.createElement("SR")
        top.appendChild(entry)
        e = dom.createElement("UUID")
        e.appendChild(dom.createTextNode(key))
        entry.appendChild(e)
        for field, tag in (("size", "Size"), ("storagepool", "StoragePool"), ("aggregate", "Aggregate")):
            if field in info:
                e = dom.createElement(tag)
                e.appendChild(dom.createTextNode(str(info[field])))
                entry.appendChild(e)
    return dom.toprettyxml()


def splitXmlText(xmlData, segmentLen=1000, showContd=False):
    return xmlData
