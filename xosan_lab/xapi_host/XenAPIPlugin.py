"""Test double of dom0's ``XenAPIPlugin`` module (shipped by xapi next to XenAPI.py).

The calling convention it implements is xapi's (ocaml/xapi/xapi_plugins.ml): for
``host.call_plugin(host, plugin, fn, args)`` xapi execs /etc/xapi.d/plugins/<plugin>
with ONE argument, an XML-RPC method call named ``fn`` whose parameters are the
caller's session id and a struct of string arguments. The plugin prints an XML-RPC
response whose single value is a XAPI-style result struct:
  {"Status": "Success", "Value": <string>}            -> call_plugin returns the string
  {"Status": "Failure", "ErrorDescription": [code, ...]} -> a XAPI failure with that code
An exception in the function becomes
  ["XENAPI_PLUGIN_FAILURE", fn, <exception class name>, <message>],
a name missing from the table ["UNKNOWN_XENAPI_PLUGIN_FUNCTION", fn]. SystemExit is
not caught.

The session goes to xapi's local unix socket, /var/lib/xcp/xapi: in a lab dom0
(xosan_lab/dom0.py) the XAPI simulator serves it.
"""

import sys
import xmlrpc.client

import XenAPI  # the real SDK from PyPI


class Failure(Exception):
    """Raised by a plugin function to answer with its own XAPI error code."""

    def __init__(self, code, params):
        Exception.__init__(self, code)
        self.params = [code] + list(params)

    def __str__(self):
        return str(self.params)


def _result(struct):
    return xmlrpc.client.dumps((struct,), "", True)


def success_message(result):
    return _result({"Status": "Success", "Value": result})


def failure_message(description):
    return _result({"Status": "Failure", "ErrorDescription": description})


def _session(session_id):
    session = XenAPI.xapi_local()
    session._session = session_id
    return session


def dispatch(fn_table):
    """Run the function xapi asked for (argv[1]) and print the answer on stdout."""
    if len(sys.argv) != 2:
        raise Exception("Incorrect number of commandline arguments")
    params, fn = xmlrpc.client.loads(sys.argv[1])
    session_id, args = params[0], params[1]
    if fn not in fn_table:
        print(failure_message(["UNKNOWN_XENAPI_PLUGIN_FUNCTION", fn]))
        return
    try:
        result = fn_table[fn](_session(session_id), args)
    except SystemExit:
        raise
    except Failure as exc:
        print(failure_message(exc.params))
    except Exception as exc:
        print(failure_message(["XENAPI_PLUGIN_FAILURE", fn, exc.__class__.__name__, str(exc)]))
    else:
        print(success_message(result))
