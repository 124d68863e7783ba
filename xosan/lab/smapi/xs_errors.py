"""Test double of dom0's ``xs_errors``: XenError looks the name up in the XML file beside it."""

import errno
import os
import xml.dom.minidom
import xmlrpc.client

import util

XML_DEFS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "XE_SR_ERRORCODES.xml")


class SRException(Exception):
    errno = errno.EINVAL

    def __init__(self, reason):
        Exception.__init__(self, reason)

    def toxml(self):
        return xmlrpc.client.dumps(xmlrpc.client.Fault(int(self.errno), str(self)), "", True)


class SROSError(SRException):
    def __init__(self, errno, reason):
        self.errno = errno
        Exception.__init__(self, reason)


def _load():
    table = {}
    dom = xml.dom.minidom.parse(XML_DEFS)
    for code in dom.getElementsByTagName("code"):
        def text(tag, code=code):
            return "".join(n.data for n in code.getElementsByTagName(tag)[0].childNodes
                           if n.nodeType == n.TEXT_NODE).strip()
        table[text("name")] = (int(text("value")), text("description"))
    return table


class XenError(Exception):
    def __new__(cls, key, opterr=None):
        table = _load()
        if key in table:
            code, message = table[key]
            if opterr is not None:
                message += " [opterr=%s]" % opterr
            util.SMlog("Raising exception [%d, %s]" % (code, message))
            return SROSError(code, message)
        return SROSError(1, "Error reporting error, unknown key %s" % key)
