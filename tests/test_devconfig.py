"""device-config as xapi sees it: the keys the driver advertises (through the real SM framework's
sr_get_driver_info), the keys the parser really reads, and the SM error every mistake becomes
(the driver's sm_error on the real framework's xs_errors), with a sentence naming the key."""

import json
import os
import re
import subprocess

import pytest

from xosan.errors import ConfigError, InvalidValue, MissingKey
from xosan.sr import devconfig
from xosan_lab.dom0 import NO_SM_DIR, dom0_python, real_sm_dir, sm_error_codes, sm_libraries

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOOD = {"server": "10.0.50.11,10.0.50.12,10.0.50.13", "volume": "xosan", "attach-timeout": "45"}


def test_good_config_keeps_order_and_drops_duplicates():
    c = devconfig.parse({"server": " 10.0.0.1, node2.lan ,10.0.0.1,fd00::3", "volume": "xosan",
                         "attach-timeout": "30", "SRmaster": "true"})
    assert c.servers == ["10.0.0.1", "node2.lan", "fd00::3"]
    assert (c.volume, c.attach_timeout) == ("xosan", 30)


def test_defaults_and_probe_without_volume():
    c = devconfig.parse({"server": "10.0.0.1"}, require_volume=False)
    assert c.volume is None and c.attach_timeout == devconfig.DEFAULT_ATTACH_TIMEOUT


# (device-config, exception class, key it names, the SM error name xapi must get). The SM names
# are what XE_SR_ERRORCODES.xml calls these cases: server missing, serverpath (= the volume)
# missing or bad, any other bad value an invalid argument.
BAD = [
    ({}, MissingKey, "server", "ConfigServerMissing"),
    ({"server": "  "}, MissingKey, "server", "ConfigServerMissing"),
    ({"servers": "10.0.0.1", "volume": "v"}, MissingKey, "server", "ConfigServerMissing"),  # a typo
    ({"server": "10.0.0.1"}, MissingKey, "volume", "ConfigServerPathMissing"),
    ({"server": "10.0.0.1", "volume": "   "}, MissingKey, "volume", "ConfigServerPathMissing"),
    ({"server": "10.0.0.1:/xosan", "volume": "v"}, InvalidValue, "server", "InvalidArg"),
    ({"server": "10.0.0.1,,10.0.0.2", "volume": "v"}, InvalidValue, "server", "InvalidArg"),
    ({"server": "1.2.3", "volume": "v"}, InvalidValue, "server", "InvalidArg"),
    ({"server": "300.1.1.1", "volume": "v"}, InvalidValue, "server", "InvalidArg"),
    ({"server": "-bad-", "volume": "v"}, InvalidValue, "server", "InvalidArg"),
    ({"server": "10.0.0.1", "volume": "a b"}, InvalidValue, "volume", "ConfigServerPathBad"),
    ({"server": "10.0.0.1", "volume": "x/y"}, InvalidValue, "volume", "ConfigServerPathBad"),
    ({"server": "10.0.0.1", "volume": "v" * 65}, InvalidValue, "volume", "ConfigServerPathBad"),
    ({"server": "10.0.0.1", "volume": "v", "attach-timeout": "0"}, InvalidValue, "attach-timeout", "InvalidArg"),
    ({"server": "10.0.0.1", "volume": "v", "attach-timeout": "9999"}, InvalidValue, "attach-timeout",
     "InvalidArg"),
    ({"server": "10.0.0.1", "volume": "v", "attach-timeout": "soon"}, InvalidValue, "attach-timeout",
     "InvalidArg"),
    ({"server": "10.0.0.1", "volume": "v", "attach-timeout": "-5"}, InvalidValue, "attach-timeout", "InvalidArg"),
]


@pytest.mark.parametrize("dconf,exc,key,sm_name", BAD)
def test_errors_name_the_key_and_give_an_example(dconf, exc, key, sm_name):
    with pytest.raises(exc) as err:
        devconfig.parse(dconf)
    assert type(err.value) is exc and err.value.key == key
    text = str(err.value)
    assert text.startswith("device-config:%s" % key) and "e.g." in text


# -- the driver's view, on the real SM framework in dom0's Python -------------------------------

_SM_SIDE = r"""
import importlib.util, json, sys, xmlrpc.client
import util
util.LOGGING = False  # sm_error logs to syslog: not from a test
spec = importlib.util.spec_from_file_location("XOSANSR", sys.argv[1])
driver = importlib.util.module_from_spec(spec)
spec.loader.exec_module(driver)
from xosan import errors
from xosan.sr import devconfig
(info,), _ = xmlrpc.client.loads(util.sr_get_driver_info(driver.DRIVER_INFO))
outcomes = []
for dconf in json.load(sys.stdin):
    try:
        devconfig.parse(dconf)
        outcomes.append(None)
    except errors.XosanError as exc:
        sm = driver.sm_error(exc)
        outcomes.append({"errno": int(sm.errno), "message": str(sm), "ours": str(exc)})
print(json.dumps({"info": info, "outcomes": outcomes}))
"""


@pytest.fixture(scope="module")
def sm_view():
    sm_dir = real_sm_dir()
    if sm_dir is None:
        pytest.fail(NO_SM_DIR)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([sm_dir] + sm_libraries(sm_dir) + [ROOT]))
    res = subprocess.run([dom0_python(), "-c", _SM_SIDE, os.path.join(ROOT, "drivers", "XOSANSR.py")],
                         input=json.dumps([d for d, _, _, _ in BAD] + [GOOD]), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    view = json.loads(res.stdout)
    view["codes"] = sm_error_codes(sm_dir)
    view["configuration"] = dict((c["key"], c["description"]) for c in view["info"]["configuration"])
    return view


class _Reads(dict):
    """A device-config that notes every key the parser looks up."""

    def __init__(self, *args):
        dict.__init__(self, *args)
        self.read = set()
        self.listed = False

    def get(self, key, default=None):
        self.read.add(key)
        return dict.get(self, key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return dict.__getitem__(self, key)

    def __contains__(self, key):
        self.read.add(key)
        return dict.__contains__(self, key)

    def __iter__(self):
        self.listed = True
        return dict.__iter__(self)

    def keys(self):
        self.listed = True
        return dict.keys(self)

    def items(self):
        self.listed = True
        return dict.items(self)


def test_xapi_is_told_exactly_the_keys_the_parser_reads(sm_view):
    # what a full sr_create/sr_attach parse looks at, and an sr_probe (no volume needed)
    read = set()
    for require_volume in (True, False):
        dconf = _Reads(dict(GOOD, SRmaster="true"))
        devconfig.parse(dconf, require_volume=require_volume)
        assert not dconf.listed, "parse lists device-config: count the keys it reads another way"
        read |= dconf.read
    assert set(sm_view["configuration"]) == read == {"server", "volume", "attach-timeout"}


def test_every_advertised_key_changes_the_outcome(sm_view):
    base = devconfig.parse(GOOD)
    for key, text in sm_view["configuration"].items():
        assert len(text) > 40 and ("e.g." in text or "default" in text), (key, text)
        # a wrong value for this key alone is refused, naming it
        with pytest.raises(ConfigError) as err:
            devconfig.parse(dict(GOOD, **{key: "no such value/!"}))
        assert err.value.key == key
        # without it: refused if the description says required, else its documented default
        without = dict((k, v) for k, v in GOOD.items() if k != key)
        if "required" in text:
            with pytest.raises(MissingKey) as err:
                devconfig.parse(without)
            assert err.value.key == key
        else:
            assert "optional" in text
            parsed = devconfig.parse(without)
            [default] = re.findall(r"default (\d+)", text)
            attr = key.replace("-", "_")
            assert getattr(parsed, attr) == int(default) != getattr(base, attr)


def test_keys_xapi_adds_or_nobody_reads_change_nothing():
    plain = devconfig.parse(GOOD)
    extra = devconfig.parse(dict(GOOD, SRmaster="true", options="whatever"))
    assert repr(extra) == repr(plain)


@pytest.mark.parametrize("case", range(len(BAD)), ids=lambda i: "%s-%s" % (BAD[i][2], BAD[i][3]))
def test_every_mistake_reaches_xapi_as_its_sm_error_with_our_sentence(sm_view, case):
    _, _, key, sm_name = BAD[case]
    code, description = sm_view["codes"][sm_name]
    got = sm_view["outcomes"][case]
    assert got is not None
    assert got["errno"] == code
    # the framework's description for that name, then ours as opterr (XenCenter shows both)
    assert got["message"] == "%s [opterr=%s]" % (description, got["ours"])
    assert "device-config:%s" % key in got["ours"] and "e.g." in got["ours"]


def test_a_good_config_gives_no_error_through_the_driver(sm_view):
    assert sm_view["outcomes"][-1] is None
