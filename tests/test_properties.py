"""Bad input, generated (issue 15, item 5): device-config values, host plugin arguments and
manifests that break the rules in every way hypothesis finds, each bad BY CONSTRUCTION (a good
value with one thing broken), so the test knows which key must be named and which SM code xapi
must get, without asking the code under test.

What must hold for every such input: a clear error of ours (the SM error named in the vendor
XE_SR_ERRORCODES.xml for device-config, a XosanError subclass for the plugin, a ManifestError
with the key and the line for a manifest), never a Python traceback, and nothing created or
changed (no mount, no XAPI record, no file under the SR mount base).

Reproducible: the profile below is derandomized and keeps no example database, so every run
tries the same inputs (no .hypothesis folder). The example counts keep the file well under two
minutes per Python; the driver ones are few because each runs the real driver in a lab dom0.
"""

import copy
import ipaddress
import json
import os
import re
import subprocess
import xmlrpc.client

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from smdriver import SMFault

from xosan import plugin
from xosan.errors import ConfigError, InvalidValue, MissingKey, XosanError
from xosan.pool import manifest
from xosan.pool.manifest import fields as manifest_fields
from xosan.pool.manifest import yaml_reader as manifest_yaml
from xosan.sr import devconfig
from xosan_lab.dom0 import NO_SM_DIR, dom0_python, real_sm_dir, sm_error_codes, sm_libraries

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# function_scoped_fixture: the dom0 and XAPI simulator of a test serve all its examples; each
# example compares the state before and after itself, so sharing them hides nothing.
settings.register_profile(
    "xosan-properties", derandomize=True, database=None, deadline=None, print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.filter_too_much, HealthCheck.data_too_large])
PROFILE = settings.get_profile("xosan-properties")


def examples(n):
    return settings(PROFILE, max_examples=n)


# Longest message a bad value may give, whatever its size (devconfig.shown cuts what it quotes).
MAX_MESSAGE = 600

# -- device-config values, bad by construction -------------------------------------------------

# Good parts are loopback addresses where nothing listens: if a bad value ever got through,
# the driver would try these and nothing else (no name to resolve, nothing off this machine).
GOOD_SERVERS = ["127.0.0.77", "127.0.0.78", "127.0.0.79"]
GOOD_VOLUMES = ["xosan", "vol_1", "a", "X-2", "v" * 64]

ADDRESS_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:-")
VOLUME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _chars(xml_safe):
    """Any character; for the driver path only those XML 1.0 can carry (xapi's XML-RPC)."""
    if xml_safe:
        return st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff").filter(
            lambda c: c in "\t\n\r" or ord(c) >= 0x20)
    return st.characters(blacklist_categories=("Cs",))


def _inject(base, chars):
    """``base`` with one character of ``chars`` put inside it (not at an end, which strip() drops)."""
    return st.tuples(st.integers(1, len(base) - 1), chars).map(lambda t: base[:t[0]] + t[1] + base[t[0]:])


def bad_server_entry(xml_safe):
    """One entry no address rule accepts, and no comma in it (a comma would make two entries)."""
    junk = _chars(xml_safe).filter(lambda c: c not in ADDRESS_CHARS and c != "," and not c.isspace())
    inner_space = st.sampled_from([" ", "\t", "\n", "\r", "\x0b", "\u00a0", "\u2003"])
    if xml_safe:
        inner_space = st.sampled_from([" ", "\t", "\n", "\u00a0", "\u2003"])
    octet_out_of_range = st.builds("{}.{}.{}.{}".format, st.integers(256, 10 ** 9), st.integers(0, 255),
                                   st.integers(0, 255), st.integers(0, 255))
    separators = st.sampled_from(GOOD_SERVERS).flatmap(
        lambda b: st.sampled_from([";", "|", " ", "\t", "/"]).map(lambda s: b + s + "127.0.0.80"))
    if xml_safe:
        # What the real driver gets is made of loopback addresses and `localhost` only: were a
        # bad one ever accepted, the driver would connect to (or resolve) nothing off this machine.
        bases = st.sampled_from(GOOD_SERVERS + ["localhost", "::1"])
        return st.one_of(
            bases.flatmap(lambda b: _inject(b, junk)), bases.flatmap(lambda b: _inject(b, inner_space)),
            octet_out_of_range, separators,
            st.sampled_from(["127.0.0", "127.0.0.1.1", "127..0.1", "-localhost", "localhost-", "[::1]",
                             "127.0.0.77:/xosan", "localhost/xosan", "/xosan", "127.0.0.1:24007", "::g",
                             "127.0.0.256"]))
    bases = st.sampled_from(GOOD_SERVERS + ["localhost", "node1.lan", "fd00::3"])
    return st.one_of(
        bases.flatmap(lambda b: _inject(b, junk)),                       # junk, unicode, control chars
        bases.flatmap(lambda b: _inject(b, inner_space)),                 # white space inside
        octet_out_of_range, separators,
        st.sampled_from(["1.2.3", "1.2.3.4.5", "127.0.0.1.", "10..0.1", "-node", "node-", "a..b",
                         "127.0.0.1:/xosan", "node1/xosan", "/xosan", "xosan:/", "[::1]",
                         "fe80::1%eth0", "127.0.0.1:24007", "::g"]),
        st.integers(64, 300).map(lambda n: "a" * n + ".lan"),             # a label over 63
        st.integers(5, 40).map(lambda n: ".".join(["b" * 60] * n)),       # a name over 253
    )


def bad_server_list(xml_safe):
    """A server list with one bad entry among good ones, or an empty entry."""
    goods = st.lists(st.sampled_from(GOOD_SERVERS), min_size=0, max_size=3)
    with_bad = st.tuples(goods, bad_server_entry(xml_safe), st.integers(0, 3)).map(
        lambda t: ",".join(t[0][:t[2]] + [t[1]] + t[0][t[2]:]))
    empty_entry = st.tuples(st.lists(st.sampled_from(GOOD_SERVERS), min_size=1, max_size=3),
                            st.sampled_from([",", ", ,", ",\t,"]), st.booleans()).map(
        lambda t: (t[1] + ",".join(t[0])) if t[2] else (",".join(t[0]) + t[1]))
    doubled = st.lists(st.sampled_from(GOOD_SERVERS), min_size=2, max_size=3).map(lambda s: ",,".join(s))
    return st.one_of(with_bad, empty_entry, doubled)


def blank(xml_safe):
    spaces = " \t\n\r" if not xml_safe else " \t\n"
    return st.text(alphabet=spaces, max_size=5)


def bad_volume(xml_safe):
    junk = _chars(xml_safe).filter(lambda c: c not in VOLUME_CHARS and not c.isspace())
    return st.one_of(
        st.sampled_from(GOOD_VOLUMES[:4]).flatmap(lambda b: _inject(b + "x", junk)),
        st.sampled_from(GOOD_VOLUMES[:4]).flatmap(lambda b: _inject(b + "x", st.sampled_from(" \t\n\u2003"))),
        st.integers(65, 5000).map(lambda n: "v" * n),                     # too long
        st.sampled_from(["xosan/sr", "../xosan", "x:y", "xösan", "ボリューム", "a b", "x.y", "*", "$x"]),
    )


def _is_good_timeout(text):
    t = text.strip()
    return bool(re.match(r"[0-9]+\Z", t)) and 1 <= int(t) <= 3600


def bad_timeout(xml_safe):
    return st.one_of(
        st.integers(-10 ** 30, 0).map(str),
        st.integers(3601, 10 ** 30).map(str),
        st.sampled_from(["1_0", "1_000", "\u0661\u0662\u0660", "\uff11\uff12\uff10", "30.0", "0x10", "1e2",
                         "+30", "-0", "soon", "1 20", "120s", " ", "\t"]),
        st.text(_chars(xml_safe), min_size=1, max_size=20).filter(
            lambda t: not _is_good_timeout(t) and t != ""),
    )


# (device-config, the key that must be named, the SM error name xapi must get)
def bad_device_config(xml_safe=False):
    good = st.fixed_dictionaries({
        "server": st.lists(st.sampled_from(GOOD_SERVERS), min_size=1, max_size=3).map(",".join),
        "volume": st.sampled_from(GOOD_VOLUMES),
    })
    extra = st.sampled_from([{}, {"SRmaster": "true"}, {"attach-timeout": "45"}, {"options": "x"}])

    def broken(base, extra_keys, case):
        kind, value = case
        dconf = dict(base, **extra_keys)
        if kind == "server-missing":
            if value is None:
                del dconf["server"]
            else:
                dconf["server"] = value
            return dconf, "server", "ConfigServerMissing"
        if kind == "server-bad":
            dconf["server"] = value
            return dconf, "server", "InvalidArg"
        if kind == "volume-missing":
            if value is None:
                del dconf["volume"]
            else:
                dconf["volume"] = value
            return dconf, "volume", "ConfigServerPathMissing"
        if kind == "volume-bad":
            dconf["volume"] = value
            return dconf, "volume", "ConfigServerPathBad"
        dconf["attach-timeout"] = value
        return dconf, "attach-timeout", "InvalidArg"

    cases = st.one_of(
        st.tuples(st.just("server-missing"), st.one_of(st.none(), blank(xml_safe))),
        st.tuples(st.just("server-bad"), bad_server_list(xml_safe)),
        st.tuples(st.just("volume-missing"), st.one_of(st.none(), blank(xml_safe))),
        st.tuples(st.just("volume-bad"), bad_volume(xml_safe)),
        st.tuples(st.just("timeout-bad"), bad_timeout(xml_safe)),
    )
    return st.builds(broken, good, extra, cases)


def _assert_names_the_fix(text, key):
    assert "device-config:%s" % key in text, text
    assert "e.g." in text, text
    assert "Traceback" not in text, text
    assert len(text) < MAX_MESSAGE, "a %d-character message" % len(text)


# What the properties found (kept as fixed examples): a host name with a newline before a dot
# passed (facts' label regex ends in `$`, which matches before a final newline); int() took
# "1_0" and other scripts' digits as seconds; a huge value was quoted whole in the message.
FOUND = [
    ({"server": "node1\n.lan", "volume": "xosan"}, "server", "InvalidArg"),
    ({"server": "127.0.0.77,localhost\n.", "volume": "xosan"}, "server", "InvalidArg"),
    ({"server": "127.0.0.77", "volume": "xosan", "attach-timeout": "1_0"}, "attach-timeout", "InvalidArg"),
    ({"server": "127.0.0.77", "volume": "xosan", "attach-timeout": "\u0661\u0662\u0660"}, "attach-timeout",
     "InvalidArg"),
    ({"server": "127.0.0.77", "volume": "v" * 100000}, "volume", "ConfigServerPathBad"),
    ({"server": "127.0.0.77," * 50000, "volume": "xosan"}, "server", "InvalidArg"),
]


def found(test):
    for case in FOUND:
        test = example(case=case)(test)
    return test


@examples(400)
@found
@given(case=bad_device_config())
def test_every_bad_device_config_is_refused_naming_its_key(case):
    dconf, key, sm_name = case
    with pytest.raises(ConfigError) as err:
        devconfig.parse(dconf)
    expected = MissingKey if sm_name in ("ConfigServerMissing", "ConfigServerPathMissing") else InvalidValue
    assert type(err.value) is expected and err.value.key == key, (dconf, err.value)
    text = str(err.value)
    assert text.startswith("device-config:%s" % key)
    _assert_names_the_fix(text, key)


# -- the SM framework's view: one dom0 Python process with the real framework ---------------------

# Reads one device-config per line, answers the SM error the driver's sm_error makes of it on
# the real framework's xs_errors (or null when parse accepts it): the edge xapi sees, without
# starting a process per example.
_SM_WORKER = r"""
import importlib.util, json, sys
import util
util.LOGGING = False  # sm_error logs to syslog: not from a test
spec = importlib.util.spec_from_file_location("XOSANSR", sys.argv[1])
driver = importlib.util.module_from_spec(spec)
spec.loader.exec_module(driver)
from xosan import errors
from xosan.sr import devconfig
for line in sys.stdin:
    dconf = json.loads(line)
    try:
        devconfig.parse(dconf)
        answer = None
    except errors.XosanError as exc:
        sm = driver.sm_error(exc)
        answer = {"errno": int(sm.errno), "message": str(sm), "ours": str(exc)}
    except Exception as exc:
        answer = {"crash": "%s: %s" % (exc.__class__.__name__, exc)}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
"""


@pytest.fixture(scope="module")
def codes():
    sm_dir = real_sm_dir()
    if sm_dir is None:
        pytest.fail(NO_SM_DIR)
    return sm_error_codes(sm_dir)


@pytest.fixture(scope="module")
def sm_worker():
    sm_dir = real_sm_dir()
    if sm_dir is None:
        pytest.fail(NO_SM_DIR)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([sm_dir] + sm_libraries(sm_dir) + [ROOT]))
    worker = subprocess.Popen([dom0_python(), "-c", _SM_WORKER, os.path.join(ROOT, "drivers", "XOSANSR.py")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=env, cwd=ROOT)

    def ask(dconf):
        worker.stdin.write(json.dumps(dconf) + "\n")
        worker.stdin.flush()
        line = worker.stdout.readline()
        assert line, "the SM worker died: %s" % worker.stderr.read()
        return json.loads(line)
    try:
        yield ask
    finally:
        worker.stdin.close()
        worker.wait(30)
        worker.stdout.close()
        worker.stderr.close()


@examples(250)
@found
@given(case=bad_device_config())
def test_every_bad_device_config_reaches_xapi_as_its_sm_error(sm_worker, codes, case):
    dconf, key, sm_name = case
    got = sm_worker(dconf)
    assert got is not None, "accepted: %r" % (dconf,)
    assert "crash" not in got, got
    code, description = codes[sm_name]
    assert got["errno"] == code, (dconf, got)
    # the framework's description for that name, then ours as opterr (XenCenter shows both)
    assert got["message"] == "%s [opterr=%s]" % (description, got["ours"])
    _assert_names_the_fix(got["ours"], key)


# -- through the real driver, as xapi runs it: the error, and nothing made ------------------------

def _tree(base):
    """Every path under ``base`` (dirs and files), to see that nothing was made there."""
    found = []
    for top, dirs, files in os.walk(base):
        found.extend(os.path.relpath(os.path.join(top, n), base) for n in dirs + files)
    return sorted(found)


def _state(xapi, dom0):
    """XAPI's records, this dom0's mounts and what lies under its SR mount base."""
    with xapi.lock:
        db = copy.deepcopy(xapi.db)
    return {"db": db, "mounts": dom0.mounts(), "fuse": dom0.fuse_mounts(),
            "files": _tree(dom0.path("/var/run/sr-mount"))}


def _own_mounts(text):
    """This dom0's mounts, without the network namespace handles (nsfs) that the other labs
    running on this machine add and remove meanwhile: none of ours."""
    return [m for m in text.splitlines() if m.split()[2] != "nsfs"]


def _assert_same(before, after):
    old, new = _own_mounts(before["mounts"]), _own_mounts(after["mounts"])
    assert ([m for m in new if m not in old], [m for m in old if m not in new]) == ([], []), "mounts changed"
    assert after["fuse"] == before["fuse"]
    assert after["files"] == before["files"]
    assert after["db"] == before["db"]


@examples(12)
@example(case=FOUND[0])
@example(case=FOUND[2])
@given(case=bad_device_config(xml_safe=True))
def test_the_driver_refuses_bad_device_config_and_makes_nothing(driver, dom0, xapi, new_sr, codes, case):
    dconf, key, sm_name = case
    code, _ = codes[sm_name]
    sr_uuid, sr_ref = new_sr(dconf)
    before = _state(xapi, dom0)
    commands = ["sr_create", "sr_attach"]
    if sm_name != "ConfigServerPathMissing":  # sr_probe without a volume lists the volumes
        commands.append("sr_probe")
    for command in commands:
        with pytest.raises(SMFault) as err:
            driver.call(command, dconf, sr_uuid=sr_uuid, sr_ref=sr_ref, args=["0"], timeout=120)
        assert err.value.code == code, (command, dconf, err.value)
        _assert_names_the_fix(err.value.message, key)
    after = _state(xapi, dom0)
    _assert_same(before, after)
    assert after["fuse"] == [] and after["files"] == []


# -- the host plugin's arguments ------------------------------------------------------------------

PROBE_ARGS = ("server", "volume")


def bad_probe_args():
    """probe's args (a string map, as xapi passes it) that must be refused before any network.
    Its servers are loopback ones (bad_server_list(True)): a bug that let one through would try
    nothing off this machine."""
    word = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
    no_server = st.one_of(st.just({}), st.sampled_from(GOOD_VOLUMES).map(lambda v: {"volume": v}),
                          bad_volume(False).map(lambda v: {"volume": v})).map(lambda d: (d, "server"))
    blank_server = st.tuples(blank(False), st.one_of(st.none(), st.sampled_from(GOOD_VOLUMES))).map(
        lambda t: (dict({"server": t[0]}, **({"volume": t[1]} if t[1] else {})), "server"))
    bad_server = st.tuples(bad_server_list(True), st.one_of(st.none(), st.sampled_from(GOOD_VOLUMES))).map(
        lambda t: (dict({"server": t[0]}, **({"volume": t[1]} if t[1] else {})), "server"))
    bad_vol = st.tuples(st.sampled_from(GOOD_SERVERS), bad_volume(False)).map(
        lambda t: ({"server": t[0], "volume": t[1]}, "volume"))
    unknown = st.tuples(st.sampled_from(GOOD_SERVERS), word.filter(lambda k: k not in PROBE_ARGS), word).map(
        lambda t: ({"server": t[0], t[1]: t[2]}, t[1]))  # e.g. a typo: volum=xosan
    return st.one_of(no_server, blank_server, bad_server, bad_vol, unknown)


def _quotes(text, key):
    """Whether ``text`` names ``key``: as typed, or escaped as repr does (dom0's Python 3.6
    escapes characters newer than its Unicode tables)."""
    return any(form in text for form in (key, repr(key), ascii(key)))


def _cli_never(host):
    raise AssertionError("probe asked glusterd on %r for bad arguments" % (host,))


@examples(300)
@given(bad_probe_args())
def test_bad_probe_arguments_are_refused_naming_them(case):
    args, key = case
    with pytest.raises(XosanError) as err:
        plugin.probe_report(args, cli_factory=_cli_never, port=1)
    text = str(err.value)
    assert "Traceback" not in text and len(text) < MAX_MESSAGE
    if isinstance(err.value, ConfigError):
        assert err.value.key == key, (args, err.value)
    else:  # no server at all: the plugin's own sentence
        assert key == "server" and type(err.value) is XosanError
    assert _quotes(text, key), text
    assert "e.g." in text, text


def run_plugin(dom0, xapi, fn, args):
    """As xapi runs /etc/xapi.d/plugins/xosan: in a dom0, xapi on its unix socket."""
    request = xmlrpc.client.dumps((xapi.session_ref, args), fn)
    res = subprocess.run(dom0.argv(["/etc/xapi.d/plugins/xosan", request]), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, env=dom0.env(), timeout=60)
    assert res.returncode == 0, res.stderr
    (answer,), method = xmlrpc.client.loads(res.stdout)
    assert method is None
    return answer, res


def _xml_safe_args(case):
    args, _ = case
    text = "".join(k + v for k, v in args.items())
    return all(c in "\t\n" or (" " <= c and c not in "\ufffe\uffff") for c in text) and "\r" not in text


@examples(10)
@given(case=bad_probe_args().filter(_xml_safe_args))
def test_the_plugin_answers_bad_arguments_with_a_stable_error(dom0, xapi, case):
    args, key = case
    before = _state(xapi, dom0)
    answer, res = run_plugin(dom0, xapi, "probe", args)
    assert answer["Status"] == "Failure", answer
    code, fn, kind, message = answer["ErrorDescription"]
    # the code xapi and XO see: the plugin failure, the function, and one of OUR error classes
    assert (code, fn) == ("XENAPI_PLUGIN_FAILURE", "probe")
    assert kind in ("XosanError", "MissingKey", "InvalidValue"), answer
    assert _quotes(message, key) and "Traceback" not in message + res.stdout + res.stderr
    after = _state(xapi, dom0)
    _assert_same(before, after)


# -- manifests ------------------------------------------------------------------------------------

BASE = """\
pool:
  master: local
  username: root
hosts:
  - xcp1
  - xcp2
  - xcp3
storage:
  sr: auto
  brick-size: all
  reserve: 10G
network:
  mode: vlan
  name: XOSAN storage
  pif: eth1
  vlan: 100
  addresses: 10.0.50.0/24
  mtu: 1500
layout: replica3-arbiter
vm:
  template: XOSAN storage VM
  memory: 1G
  vcpus: 2
volume: xosan
sr-name: XOSAN
"""
LINES = BASE.splitlines()


def _line_of(key):
    """1-based line of a leaf ``key`` (dotted) in BASE."""
    section, _, name = key.rpartition(".")
    start = 0
    if section:
        start = LINES.index("%s:" % section)
    for i in range(start, len(LINES)):
        if re.match(r"^\s*%s:" % re.escape(name), LINES[i]) and (i > start or not section):
            return i + 1
    raise KeyError(key)


def _with_value(key, value_text):
    """BASE with ``key``'s value written as ``value_text`` (YAML, on the key's own line)."""
    lines = list(LINES)
    n = _line_of(key) - 1
    indent, name = re.match(r"^(\s*)([^:]+):", lines[n]).groups()
    lines[n] = "%s%s: %s" % (indent, name, value_text)
    return "\n".join(lines) + "\n"


_YAML_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _yaml_ok(text):
    """Whether YAML can carry ``text`` in a double-quoted scalar as _quoted writes it (the
    control characters below space become escapes; YAML refuses other non-printable ones raw)."""
    return not _YAML_NOT_PRINTABLE.search(re.sub("[\x00-\x1f]", "", text))


def _quoted(text):
    return json.dumps(text, ensure_ascii=False)


printable = st.characters(blacklist_categories=("Cs", "Cc", "Co", "Cn", "Zl", "Zp"))
letters_text = st.text(printable, min_size=1, max_size=12).filter(lambda t: not re.match(r"\s*[0-9]+\s*\Z", t))


# Python 3.11's int() refuses more than 4300 digits with a ValueError: once a traceback here.
HUGE_NUMBER = st.integers(4000, 6000).map(lambda n: "9" * n)


def bad_integer(low, high):
    return st.one_of(st.integers(-10 ** 12, low - 1).map(str), st.integers(high + 1, 10 ** 30).map(str),
                     HUGE_NUMBER, st.integers(4000, 4080).map(lambda n: "0" * n + str(high + 1)),
                     st.sampled_from(["1_500", "\u0661\u0665", "12.0", "0x10", "1e3", "+5", "five"]),
                     letters_text)


_GOOD_SIZE = re.compile(r"(?i)\s*([0-9]+(\.[0-9]+)?)\s*([KMGT](I?B)?|B)\s*\Z|\s*all\s*\Z")


def bad_size(low=None, high=None):
    s = [HUGE_NUMBER.map(lambda t: t + "G"), HUGE_NUMBER.map(lambda t: "1." + t + "G"),
         st.sampled_from(["12", "12X", "-5G", "1,5G", "G", "1.G", ".5G", "5 GB extra", "0x10G", "1e3G", "١G"]),
         letters_text.filter(lambda t: not _GOOD_SIZE.match(t))]
    if low is not None:
        s.append(st.integers(0, low // manifest.MiB - 1).map(lambda n: "%dM" % n))
    if high is not None:
        s.append(st.integers(high // manifest.GiB + 1, 10 ** 6).map(lambda n: "%dG" % n))
    return st.one_of(*s)


def bad_choice(choices):
    return st.text(printable, min_size=1, max_size=20).filter(lambda t: t.strip().lower() not in choices)


def bad_network():
    return st.one_of(
        st.sampled_from(["10.0.50.0", "10.0.50.0/33", "10.0.0.0/8", "10.0.50.0/30", "fd00::/64",
                         "10.0.50.5/24", "300.0.0.0/24", "10.0.50.0/", "/24", "10.0.50.0/24/1", "any"]),
        letters_text)


# key -> strategy of texts the rules must refuse for it (a single value on the key's line)
BAD_VALUES = {
    "network.mtu": bad_integer(manifest.MIN_MTU, manifest.MAX_MTU),
    "network.vlan": bad_integer(manifest.MIN_VLAN, manifest.MAX_VLAN),
    "vm.vcpus": bad_integer(manifest.MIN_VCPUS, manifest.MAX_VCPUS),
    "vm.memory": bad_size(manifest.MIN_MEMORY, manifest.MAX_MEMORY),
    "storage.reserve": bad_size(),
    "storage.brick-size": bad_size(manifest.MIN_BRICK),
    "network.addresses": bad_network(),
    "network.mode": bad_choice(manifest.NETWORK_MODES),
    "layout": bad_choice(manifest.LAYOUTS),
    "volume": bad_volume(False).filter(lambda v: v.strip() != "" and _yaml_ok(v)),
    "network.pif": st.one_of(st.sampled_from(["eth 1", "-eth1", "eth1/2", "e" * 16, "ëth1", "eth1;x"]),
                             st.text(printable, min_size=17, max_size=30).filter(lambda t: len(t.strip()) > 15)),
}
BAD_VALUES["pool.master"] = st.one_of(
    st.sampled_from(["ftp://192.168.1.10", "https://", "https://root:pw@192.168.1.10", "https://192.168.1.10/x",
                     "https://192.168.1.10:0", "https://192.168.1.10:99999", "https://-h", "https://h?x=1",
                     "http//h", "https://a b", "https://[::1", "https://300.1.1.1", "locale", "https://h#f"]),
    letters_text.filter(lambda t: t.strip().lower() != "local" and not t.strip().lower().startswith("http")))
TEXT_KEYS = ["pool.username", "network.name", "vm.template", "sr-name", "storage.sr"]
ALL_LEAVES = sorted(BAD_VALUES) + TEXT_KEYS
WITH_DEFAULTS = ["network.mtu", "vm.vcpus", "vm.memory", "storage.reserve", "network.mode", "layout",
                 "volume", "network.name", "vm.template", "sr-name", "storage.sr", "pool.username",
                 "storage.brick-size"]


def _assert_points_at(err, key, line):
    e = err.value
    assert isinstance(e, manifest.ManifestError)
    assert e.key == key, (e.key, key, str(e))
    assert e.line == line, (e.line, line, str(e))
    text = str(e)
    assert text.startswith("<string>, line %d, column " % line), text
    assert "`%s`" % key in text and "Traceback" not in text, text


def test_the_base_manifest_is_good():
    m = manifest.loads(BASE)
    assert m.network.mtu == 1500 and m.volume == "xosan" and m.hosts == ["xcp1", "xcp2", "xcp3"]


@examples(300)
@given(st.sampled_from(sorted(BAD_VALUES)).flatmap(lambda k: st.tuples(st.just(k), BAD_VALUES[k])))
def test_out_of_range_and_malformed_values_name_the_key_and_line(case):
    key, value = case
    with pytest.raises(manifest.ManifestError) as err:
        manifest.loads(_with_value(key, _quoted(value)))
    _assert_points_at(err, key, _line_of(key))


@examples(60)
@given(st.sampled_from(ALL_LEAVES), st.integers(manifest_fields.MAX_TEXT + 1, 20000))
def test_a_huge_value_is_refused_with_a_short_message(key, size):
    with pytest.raises(manifest.ManifestError) as err:
        manifest.loads(_with_value(key, "1" * size))
    _assert_points_at(err, key, _line_of(key))
    assert len(str(err.value)) < MAX_MESSAGE, str(err.value)


@examples(20)
@example("network.mtu", 3000, "[")
@given(st.sampled_from(ALL_LEAVES), st.integers(manifest_yaml.MAX_DEPTH + 1, 400), st.sampled_from(["[", "{a: "]))
def test_deep_nesting_is_a_located_error(key, depth, opener):
    # once a RecursionError out of PyYAML's composer: a traceback
    closer = "]" if opener == "[" else "}"
    with pytest.raises(manifest.ManifestError) as err:
        manifest.loads(_with_value(key, opener * depth + "1" + closer * depth))
    assert err.value.line == _line_of(key), str(err.value)
    assert str(err.value).startswith("<string>, line %d, column " % _line_of(key))


@examples(120)
@given(st.sampled_from(ALL_LEAVES),
       st.sampled_from(["[a, b]", "[]", "{a: b}", "{}", "[1500]", "{mtu: 1500}", "[[x]]"]))
def test_a_list_or_section_where_one_value_goes_names_the_key_and_line(key, flow):
    with pytest.raises(manifest.ManifestError) as err:
        manifest.loads(_with_value(key, flow))
    _assert_points_at(err, key, _line_of(key))


@examples(60)
@given(st.sampled_from(WITH_DEFAULTS), st.sampled_from(["", "~", "null", "''", '""', "' '"]))
def test_an_empty_value_names_the_key_and_line(key, empty):
    with pytest.raises(manifest.ManifestError) as err:
        manifest.loads(_with_value(key, empty))
    _assert_points_at(err, key, _line_of(key))


SECTIONS = [s for s, keys in manifest.SCHEMA if keys]
KNOWN_NAMES = set(n for _, keys in manifest.SCHEMA if keys for n, _ in keys) | set(s for s, _ in manifest.SCHEMA)


@examples(150)
@given(st.sampled_from([""] + SECTIONS),
       st.from_regex(r"\A[A-Za-z][A-Za-z0-9_-]{0,20}\Z").filter(lambda n: n not in KNOWN_NAMES),
       st.sampled_from(["x", "1", "[a]", "{a: 1}", ""]))
def test_an_unknown_key_is_named_at_its_line(section, name, value):
    lines = list(LINES)
    if section:
        if "%s:" % section not in lines:  # a section BASE leaves out (disperse)
            lines.append("%s:" % section)
        at = lines.index("%s:" % section) + 1  # right under the section name
        lines.insert(at, "  %s: %s" % (name, value))
    else:
        at = len(lines)
        lines.append("%s: %s" % (name, value))
    with pytest.raises(manifest.ManifestError) as err:
        manifest.loads("\n".join(lines) + "\n")
    key = "%s.%s" % (section, name) if section else name
    _assert_points_at(err, key, at + 1)


def _still_within_the_rules(m):
    """What every accepted manifest must be, checked apart from rules.py."""
    assert re.match(r"[A-Za-z0-9_-]{1,64}\Z", m.volume), m.volume
    assert manifest.MIN_MTU <= m.network.mtu <= manifest.MAX_MTU
    assert manifest.MIN_VCPUS <= m.vm.vcpus <= manifest.MAX_VCPUS
    assert manifest.MIN_MEMORY <= m.vm.memory <= manifest.MAX_MEMORY
    assert m.hosts == manifest.ALL or (
        manifest.MIN_HOSTS <= len(m.hosts) <= manifest.MAX_HOSTS and len(set(m.hosts)) == len(m.hosts)
        and all(h.strip() == h and h for h in m.hosts))
    assert m.layout in manifest.LAYOUTS and m.network.mode in manifest.NETWORK_MODES
    net = ipaddress.IPv4Network(m.network.addresses)
    assert manifest.MIN_PREFIX <= net.prefixlen <= manifest.MAX_PREFIX
    if m.network.mode == "vlan":
        assert manifest.MIN_VLAN <= m.network.vlan <= manifest.MAX_VLAN
        assert re.match(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}\Z", m.network.pif), m.network.pif
    # and what it says is what it loads back to
    again = manifest.loads(yaml.safe_dump(manifest.to_dict(m), sort_keys=False))
    assert manifest.to_dict(again) == manifest.to_dict(m)


SYNTAX_CHARS = st.sampled_from(list(":{}[]&*!|>'\"%@`#,-?\t ") + ["\n", "  ", "\n  ", "---\n", "..."])


@examples(300)
@given(st.lists(st.tuples(st.integers(0, len(BASE)), st.integers(0, 3), SYNTAX_CHARS), min_size=1, max_size=3))
def test_broken_yaml_is_a_located_error_or_a_manifest_within_the_rules(edits):
    text = BASE
    for pos, cut, insert in edits:
        pos = min(pos, len(text))
        text = text[:pos] + insert + text[pos + cut:]
    try:
        m = manifest.loads(text)
    except manifest.ManifestError as exc:
        message = str(exc)
        assert "Traceback" not in message
        if exc.line is not None:
            assert 1 <= exc.line <= text.count("\n") + 2, (exc.line, message)
            assert message.startswith("<string>, line %d, column %d: " % (exc.line, exc.column)), message
        if exc.key is not None:
            assert exc.key.split("[")[0] in message, message
        return
    _still_within_the_rules(m)


yaml_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(printable, max_size=10))
yaml_doc = st.recursive(yaml_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.sampled_from(sorted(KNOWN_NAMES)), st.text(printable, min_size=1, max_size=8)),
                    inner, max_size=4)), max_leaves=12)


@examples(200)
@given(st.one_of(yaml_doc, st.dictionaries(st.sampled_from(sorted(KNOWN_NAMES)), yaml_doc, max_size=6)))
def test_any_yaml_document_is_a_manifest_error_or_a_manifest_within_the_rules(doc):
    text = yaml.safe_dump(doc, allow_unicode=True)
    try:
        m = manifest.loads(text)
    except manifest.ManifestError as exc:
        assert "Traceback" not in str(exc)
        assert exc.key is not None or exc.line is not None, str(exc)
        return
    _still_within_the_rules(m)
