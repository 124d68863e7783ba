"""The deployment manifest (the xosan/pool/manifest package): YAML and flags, checks, messages."""

import os
import re
import textwrap

import pytest
import yaml

from xosan.errors import ConfigError
from xosan.pool import manifest
from xosan.pool.manifest import ALL, GiB, KiB, ManifestError, MiB, TiB

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "xosan.yaml")
NET = "network:\n  addresses: 10.0.50.0/24\n"


def doc(text):
    return textwrap.dedent(text).lstrip("\n")


def fails(text, key, line, *fragments):
    """loads() must fail on ``key`` at ``line``, saying where, what and what to write."""
    with pytest.raises(ManifestError) as err:
        manifest.loads(doc(text), source="xosan.yaml")
    e = err.value
    message = str(e)
    assert (e.key, e.line, e.path) == (key, line, "xosan.yaml"), message
    assert message.startswith("xosan.yaml, line %d, column %d: " % (line, e.column)), message
    assert e.column >= 1
    if key is not None:
        assert "`%s`" % key in message
    assert e.hint and e.hint in message, message
    for fragment in fragments:  # hints start with a capital, wherever they begin
        assert fragment in message or fragment[0].upper() + fragment[1:] in message, message
    return e


def flag_fails(key, *fragments, **kw):
    with pytest.raises(ManifestError) as err:
        manifest.from_flags(**kw)
    e = err.value
    message = str(e)
    assert (e.key, e.line, e.column, e.path) == (key, None, None, "<flags>"), message
    assert message.startswith("`%s` " % key), message
    assert e.hint and e.hint in message
    for fragment in fragments:
        assert fragment in message or fragment[0].upper() + fragment[1:] in message, message
    return e


# -- the example and the defaults ------------------------------------------------------

def test_example_file_loads():
    m = manifest.load(EXAMPLE)
    assert m.source == EXAMPLE
    assert (m.pool.master, m.pool.username, m.pool.password_file, m.pool.local) == (
        "https://192.168.1.10", "root", "/root/.xosan-password", False)
    assert m.hosts == ["xcp1", "xcp2", "xcp3"] and m.host_count == 3
    assert (m.storage.sr, m.storage.brick_size, m.storage.reserve) == ("auto", ALL, 10 * GiB)
    n = m.network
    assert (n.mode, n.name, n.pif, n.vlan, n.addresses, n.gateway, n.mtu) == (
        "vlan", "XOSAN storage", "eth1", 100, "10.0.50.0/24", None, 1500)
    assert (n.prefix, n.netmask) == (24, "255.255.255.0")
    assert n.storage_vm_addresses(3) == ["10.0.50.11", "10.0.50.12", "10.0.50.13"]
    assert n.dom0_addresses(3) == ["10.0.50.101", "10.0.50.102", "10.0.50.103"]
    assert (m.layout, m.disperse, m.witness) == ("replica3-arbiter", None, None)
    assert (m.vm.template, m.vm.memory, m.vm.vcpus) == ("XOSAN storage VM", GiB, 2)
    assert (m.volume, m.sr_name) == ("xosan", "XOSAN")
    assert m.locations["network.addresses"][0] == 46 and m.locations["hosts"] == (24, 1)


def test_example_shows_every_key():
    text = open(EXAMPLE).read()
    for section, keys in manifest.SCHEMA:
        assert re.search(r"^(# )?%s:" % section, text, re.M), section
        for key, _ in keys or ():
            assert re.search(r"^#? +(# )?%s: " % key, text, re.M), key


def test_to_dict_round_trips():
    m = manifest.load(EXAMPLE)
    d = manifest.to_dict(m)
    assert list(d) == [name for name, _ in manifest.SCHEMA]
    assert d["storage"] == {"sr": "auto", "brick-size": "all", "reserve": "10G"}
    again = manifest.loads(yaml.safe_dump(d, sort_keys=False))
    assert again == m and manifest.to_dict(again) == d


def test_defaults():
    m = manifest.loads(NET)
    assert m.source == "<string>"
    assert (m.pool.master, m.pool.username, m.pool.password_file, m.pool.local) == (
        "local", "root", None, True)
    assert m.hosts == ALL and m.host_count is None
    assert (m.storage.sr, m.storage.brick_size, m.storage.reserve) == ("auto", ALL, 10 * GiB)
    n = m.network
    assert (n.mode, n.name, n.pif, n.vlan, n.gateway, n.mtu) == ("existing", "XOSAN storage", None, None,
                                                                 None, 1500)
    assert (m.layout, m.disperse, m.witness) == ("auto", None, None)
    assert (m.vm.template, m.vm.memory, m.vm.vcpus) == ("XOSAN storage VM", GiB, 2)
    assert (m.volume, m.sr_name, m.locations["network.addresses"]) == ("xosan", "XOSAN", (2, 14))
    assert manifest.from_flags(addresses="10.0.50.0/24") == m


def test_values_are_read_as_written_not_as_yaml_types():
    m = manifest.loads(doc("""
        storage: {sr: no}
        network: {name: 2024, addresses: 10.0.50.0/24, mtu: "9000"}
        vm: {template: yes}
        sr-name: 0x10
        """))
    assert (m.storage.sr, m.network.name, m.network.mtu, m.vm.template, m.sr_name) == (
        "no", "2024", 9000, "yes", "0x10")


def test_keywords_are_case_insensitive_and_empty_optional_keys_are_unset():
    m = manifest.loads(doc("""
        pool: {master: LOCAL, password-file: }
        hosts: All
        storage: {sr: Auto, brick-size: ALL}
        network: {mode: VLAN, pif: eth1, vlan: 7, addresses: 10.0.50.0/24, gateway: ~}
        layout: Replica3
        disperse:
        vm:
        """))
    assert (m.pool.master, m.pool.password_file, m.hosts, m.storage.sr, m.storage.brick_size) == (
        "local", None, ALL, "auto", ALL)
    assert (m.network.mode, m.network.gateway, m.layout, m.disperse) == ("vlan", None, "replica3", None)


def test_full_manifest_with_every_key():
    m = manifest.loads(doc("""
        pool: {master: "http://xcp-master.lan:8080/", username: admin, password-file: pw}
        hosts: [a, b, c, d, e, f]
        storage: {sr: Local storage, brick-size: 1.5T, reserve: 0G}
        network: {mode: existing, name: Storage, addresses: 10.1.0.0/16, gateway: 10.1.0.1, mtu: 9000}
        layout: disperse
        disperse: {data: 4, redundancy: 2}
        vm: {template: My template, memory: 1536M, vcpus: 4}
        volume: vms_1
        sr-name: Shared storage
        """))
    assert m.pool.master == "http://xcp-master.lan:8080" and m.pool.password_file == "pw"
    assert (m.storage.brick_size, m.storage.reserve) == (int(1.5 * TiB), 0)
    assert (m.network.gateway, m.network.prefix, m.network.netmask) == ("10.1.0.1", 16, "255.255.0.0")
    assert m.network.dom0_address(5) == "10.1.0.106"
    assert (m.disperse.data, m.disperse.redundancy, m.vm.memory) == (4, 2, 1536 * MiB)
    assert manifest.to_dict(m)["storage"]["brick-size"] == "1.5T"


def test_two_hosts_with_witness():
    m = manifest.loads(doc("""
        hosts: [xcp1, xcp2]
        network: {addresses: 10.0.50.0/24}
        witness: 10.0.50.9
        """))
    assert (m.witness, m.layout) == ("10.0.50.9", "auto")
    routed = manifest.loads("witness: 10.0.60.9\nnetwork: {addresses: 10.0.50.0/24, gateway: 10.0.50.1}")
    assert routed.witness == "10.0.60.9"


# -- every rule: key, line, and what to write --------------------------------------------

RULES = [
    # pool
    ("pool: {master: 192.168.1.10}\n" + NET, "pool.master", 1, "`master: https://192.168.1.10`"),
    ("pool: {master: 'ftp://xcp1'}\n" + NET, "pool.master", 1, "`master: https://xcp1`"),
    ("pool: {master: 'https://xcp1/api?x=1'}\n" + NET, "pool.master", 1, "`master: https://xcp1`"),
    ("pool: {master: 'https://bad_host'}\n" + NET, "pool.master", 1, "https://192.168.1.10"),
    ("pool: {master: 'https://xcp1:99999'}\n" + NET, "pool.master", 1, "https://192.168.1.10"),
    ("pool:\n  username:\n" + NET, "pool.username", 2, "has no value", "(root)"),
    # hosts
    ("hosts: xcp1, xcp2\n" + NET, "hosts", 1, "`hosts: [xcp1, xcp2]`", "`hosts: all`"),
    ("hosts: [xcp1]\n" + NET, "hosts", 1, "2 to 16", "`hosts: all`"),
    ("hosts: [%s]\n" % ", ".join("h%d" % i for i in range(17)) + NET, "hosts", 1, "at most 16"),
    ("hosts:\n  - a\n  - b\n  - a\n" + NET, "hosts[2]", 4, "`a` twice", "`hosts: [a, b]`"),
    ("hosts: [a, all]\n" + NET, "hosts[1]", 1, "`hosts: all`"),
    ("hosts:\n  - a\n  - {name: b}\n" + NET, "hosts[1]", 3, "a section", "host name-label"),
    ("hosts:\n  - a\n  -\n" + NET, "hosts[1]", 3, "empty"),
    ("hosts: {a: 1}\n" + NET, "hosts", 1, "section"),
    # storage
    ("storage:\n  brick-size: 12X\n" + NET, "storage.brick-size", 2, "`brick-size: 500G`",
     "`brick-size: all`"),
    ("storage:\n  brick-size: 500M\n" + NET, "storage.brick-size", 2, "minimum 1G", "`brick-size: 1G`"),
    ("storage:\n  brick-size: 500\n" + NET, "storage.brick-size", 2, "unit is missing", "500G"),
    ("storage:\n  reserve: all\n" + NET, "storage.reserve", 2, "`reserve: 10G`"),
    ("storage:\n  sr: [a, b]\n" + NET, "storage.sr", 2, "not a list", "`sr: auto`"),
    ("storage:\n  sr: ''\n" + NET, "storage.sr", 2, "has no value", "`sr: auto`"),
    # network
    ("network:\n  mode: vlna\n  addresses: 10.0.50.0/24\n", "network.mode", 2, "`mode: vlan`"),
    ("network:\n  mode: vlan\n  vlan: 100\n  addresses: 10.0.50.0/24\n", "network.pif", 1,
     "required with `mode: vlan`", "add `pif: eth1` under `network:`"),
    ("network:\n  mode: vlan\n  pif: eth1\n  addresses: 10.0.50.0/24\n", "network.vlan", 1,
     "add `vlan: 100` under `network:`"),
    ("network:\n  mode: vlan\n  pif: eth 1\n  vlan: 5\n  addresses: 10.0.50.0/24\n", "network.pif", 3,
     "`pif: eth1`"),
    ("network:\n  mode: vlan\n  pif: eth1\n  vlan: 4095\n  addresses: 10.0.50.0/24\n", "network.vlan", 4,
     "1 to 4094", "`vlan: 100`"),
    ("network:\n  mode: vlan\n  pif: eth1\n  vlan: ten\n  addresses: 10.0.50.0/24\n", "network.vlan", 4,
     "not a whole number"),
    ("network:\n  mode: existing\n  pif: eth1\n  addresses: 10.0.50.0/24\n", "network.pif", 3,
     "only used with `mode: vlan`", "write `mode: vlan`"),
    ("network:\n  vlan: 100\n  addresses: 10.0.50.0/24\n", "network.vlan", 2, "only used with `mode: vlan`"),
    ("network:\n  mode: existing\n", "network.addresses", 1, "is required", "add `addresses: 10.0.50.0/24` "
                                                                        "under `network:`"),
    ("pool:\n  master: local\n", "network.addresses", 1, "add a `network:` section with "
                                                         "`addresses: 10.0.50.0/24`"),
    ("", "network.addresses", 1, "add a `network:` section"),
    ("network:\n  addresses:\n", "network.addresses", 2, "is required"),
    ("network:\n  addresses: 10.0.50.0\n", "network.addresses", 2, "prefix length is missing",
     "`addresses: 10.0.50.0/24`"),
    ("network:\n  addresses: 10.0.50.7/24\n", "network.addresses", 2, "host bits",
     "`addresses: 10.0.50.0/24`"),
    ("network:\n  addresses: 10.0.50.0/30\n", "network.addresses", 2, "/16 to /29",
     "`addresses: 10.0.50.0/24`"),
    ("network:\n  addresses: 10.0.0.0/8\n", "network.addresses", 2, "/16 to /29"),
    ("network:\n  addresses: 10.0.50.0/26\n", "network.addresses", 2, "too small", "16 hosts",
     "10.0.50.101-10.0.50.116", "`addresses: 10.0.50.0/24`"),
    ("hosts: [a, b, c]\nnetwork:\n  addresses: 10.0.50.0/27\n", "network.addresses", 3, "3 hosts",
     "10.0.50.101-10.0.50.103"),
    ("network:\n  addresses: fd00::/64\n", "network.addresses", 2, "IPv4"),
    ("network:\n  addresses: 10.0.500.0/24\n", "network.addresses", 2, "not an IPv4 network"),
    ("network:\n  addresses: 10.0.50.0/24\n  gateway: 10.0.51.1\n", "network.gateway", 3, "outside",
     "`gateway: 10.0.50.1`"),
    ("network:\n  addresses: 10.0.50.0/24\n  gateway: 10.0.50.255\n", "network.gateway", 3, "broadcast"),
    ("network:\n  addresses: 10.0.50.0/24\n  gateway: 10.0.50.12\n", "network.gateway", 3,
     "storage VMs", "`gateway: 10.0.50.1`"),
    ("network:\n  addresses: 10.0.50.0/24\n  gateway: 10.0.50.102\n", "network.gateway", 3, "dom0s"),
    ("network:\n  addresses: 10.0.50.0/24\n  gateway: router\n", "network.gateway", 3, "not an IPv4"),
    ("network:\n  addresses: 10.0.50.0/24\n  mtu: 9001\n", "network.mtu", 3, "1280 to 9000", "`mtu: 1500`"),
    ("network:\n  addresses: 10.0.50.0/24\n  mtu: 1000\n", "network.mtu", 3, "1280 to 9000"),
    ("network:\n  addresses: 10.0.50.0/24\n  mtu: jumbo\n", "network.mtu", 3, "not a whole number"),
    ("network: 10.0.50.0/24\n", "network", 1, "is a section", "`  mode: existing`"),
    # layout and disperse
    (NET + "layout: raid5\n", "layout", 3, "`layout: auto`"),
    (NET + "layout: replica-3\n", "layout", 3, "`layout: replica3`"),
    ("hosts: [a, b, c]\n" + NET + "layout: replica2-arbiter\n", "layout", 4, "exactly 2 hosts",
     "`layout: replica3-arbiter`"),
    ("hosts: [a, b]\n" + NET + "layout: replica3\n", "layout", 4, "at least 3 hosts",
     "`layout: replica2-arbiter`"),
    ("hosts: [a, b]\n" + NET + "layout: disperse\n", "layout", 4, "at least 3 hosts"),
    (NET + "disperse:\n  data: 2\n  redundancy: 1\n", "disperse", 3, "only used with `layout: disperse`",
     "write `layout: disperse`"),
    (NET + "layout: disperse\ndisperse:\n  data: 2\n  redundancy: 2\n", "disperse.redundancy", 6,
     "less than `disperse.data`", "`redundancy: 1`"),
    (NET + "layout: disperse\ndisperse:\n  data: 4\n", "disperse.redundancy", 4,
     "required with `disperse.data`", "add `redundancy: 1` under `disperse:`"),
    (NET + "layout: disperse\ndisperse:\n  data: 1\n  redundancy: 1\n", "disperse.data", 5, "2 to 16"),
    ("hosts: [a, b, c]\n" + NET + "layout: disperse\ndisperse: {data: 4, redundancy: 2}\n",
     "disperse.data", 5, "6 fragments need at least 6 hosts", "`data: 2`"),
    (NET + "layout: disperse\ndisperse: {data: 14, redundancy: 3}\n", "disperse.data", 4, "at most 16"),
    # witness
    ("hosts: [a, b, c]\n" + NET + "witness: 10.0.50.9\n", "witness", 4, "only used with 2 hosts",
     "Remove it"),
    (NET + "layout: replica3\nwitness: 10.0.50.9\n", "witness", 4, "not used with `layout: replica3`",
     "`layout: replica2-arbiter`"),
    (NET + "layout: disperse\nwitness: 10.0.50.9\n", "witness", 4, "`layout: disperse`"),
    ("hosts: [a, b]\n" + NET + "witness: 10.0.60.9\n", "witness", 4, "outside", "`witness: 10.0.50.9`",
     "`network.gateway`"),
    ("hosts: [a, b]\n" + NET + "witness: 10.0.50.12\n", "witness", 4, "storage VMs",
     "`witness: 10.0.50.9`"),
    ("hosts: [a, b]\n" + NET + "witness: arbiter.lan\n", "witness", 4, "not an IPv4 address"),
    ("network: {addresses: 10.0.50.0/24, gateway: 10.0.50.9}\nwitness: 10.0.50.9\n", "witness", 2,
     "gateway"),
    # vm, volume, sr-name
    (NET + "vm:\n  memory: 256M\n", "vm.memory", 4, "minimum 512M", "`memory: 512M`"),
    (NET + "vm:\n  memory: 32G\n", "vm.memory", 4, "maximum 16G", "`memory: 16G`"),
    (NET + "vm:\n  memory: 1\n", "vm.memory", 4, "unit is missing"),
    (NET + "vm:\n  vcpus: 0\n", "vm.vcpus", 4, "1 to 16", "`vcpus: 2`"),
    (NET + "vm:\n  vcpus: 17\n", "vm.vcpus", 4, "1 to 16"),
    (NET + "vm:\n  template: ''\n", "vm.template", 4, "has no value", "`template: XOSAN storage VM`"),
    (NET + "volume: my vms\n", "volume", 3, "not a GlusterFS volume name", "`volume: my-vms`"),
    (NET + "volume: %s\n" % ("v" * 65), "volume", 3, "1 to 64"),
    (NET + "volume: {name: x}\n", "volume", 3, "not a section", "`volume: xosan`"),
    (NET + "sr-name:\n", "sr-name", 3, "has no value", "`sr-name: XOSAN`"),
]


@pytest.mark.parametrize("text,key,line,fragments", [(r[0], r[1], r[2], r[3:]) for r in RULES],
                         ids=["%s-%d" % (r[1], i) for i, r in enumerate(RULES)])
def test_each_rule_names_key_line_and_fix(text, key, line, fragments):
    e = fails(text, key, line, *fragments)
    assert isinstance(e, ConfigError) and e.message.startswith("`%s` " % key)


def test_value_errors_point_at_the_value_and_missing_keys_at_the_section():
    e = fails("""
        # comment
        network:
          mode: existing
          addresses: 10.0.50.0/24
          mtu: 70000
        """, "network.mtu", 5)
    assert e.column == 8
    e = fails("""
        pool:
          master: local
        network:
          mode: vlan
          vlan: 10
          addresses: 10.0.50.0/24
        """, "network.pif", 3)
    assert e.column == 1


# -- structure: unknown, duplicate, misplaced, password ------------------------------------

def test_unknown_key_with_suggestion():
    e = fails("""
        # XOSAN
        pool:
          master: local
        hosts: all
        storage:
          sr: auto
        netwrok:
          addresses: 10.0.50.0/24
        """, "netwrok", 7, "unknown key `netwrok`", "Did you mean `network`?")
    assert str(e) == "xosan.yaml, line 7, column 1: unknown key `netwrok`. Did you mean `network`?"


@pytest.mark.parametrize("text,key,line,fragment", [
    ("network:\n  adresses: 10.0.50.0/24\n", "network.adresses", 2, "Did you mean `addresses`?"),
    ("storage:\n  brick_size: 1T\n" + NET, "storage.brick_size", 2, "Did you mean `brick-size`?"),
    ("sr_name: X\n" + NET, "sr_name", 1, "Did you mean `sr-name`?"),
    ("Layout: auto\n" + NET, "Layout", 1, "Did you mean `layout`?"),
    (NET + "mtu: 9000\n", "mtu", 3, "Did you mean `network.mtu`? Put `mtu:` under `network:`"),
    (NET + "vm:\n  ram: 1G\n", "vm.ram", 4, "Valid keys in `vm:`: template, image, image-sr, memory, vcpus"),
    (NET + "colour: blue\n", "colour", 3, "Valid keys at the top level: pool, hosts, storage"),
    ("base: &b {addresses: 10.0.50.0/24}\nnetwork:\n  <<: *b\n", "base", 1, "Valid keys"),
])
def test_unknown_keys(text, key, line, fragment):
    fails(text, key, line, "unknown key `%s`" % key, fragment)


def test_merge_keys_are_refused():
    fails("network:\n  <<: {addresses: 10.0.50.0/24}\n", "network.<<", 2, "merge key `network.<<` is not supported")


def test_duplicate_keys():
    fails("""
        network:
          addresses: 10.0.50.0/24
        layout: auto
        network:
          mtu: 9000
        """, "network", 4, "duplicate key `network` (first at line 1)", "Keep one `network:` line")
    fails("""
        network:
          mode: existing
          addresses: 10.0.50.0/24
          mode: vlan
        """, "network.mode", 4, "duplicate key `network.mode` (first at line 2)",
          "Keep one `mode:` line in `network:`")


@pytest.mark.parametrize("text,key,line", [
    ("pool:\n  master: https://xcp1\n  password: secret\n" + NET, "pool.password", 3),
    (NET + "password: secret\n", "password", 3),
    ("pool:\n  Password: secret\n" + NET, "pool.Password", 2),
])
def test_password_is_refused(text, key, line):
    e = fails(text, key, line, "a password never goes in the manifest", "`password-file: ",
              "xosan deploy asks for it")
    assert "secret" not in str(e)


def test_password_in_master_url_is_refused():
    e = fails("pool:\n  master: https://root:secret@xcp1:443\n" + NET, "pool.master", 2,
              "a password never goes in the manifest", "`master: https://xcp1:443`", "password-file")
    assert "secret" not in str(e)


def test_document_must_be_a_mapping():
    e = fails("- network\n- hosts\n", None, 1, "a list")
    assert e.key is None
    fails("just text\n", None, 1, "a single value")


# -- YAML syntax ----------------------------------------------------------------------------

@pytest.mark.parametrize("text,line,fragment", [
    ("network:\n\taddresses: 10.0.50.0/24\n", 2, "Indent with spaces"),
    ("network:\n  addresses: 10.0.50.0/24\n pool: x\n", 3, "YAML syntax error"),
    ("network:\n  name: a: b\n", 2, "in quotes"),
    ("pool:\n  master: \"https://xcp1\n" + NET, 5, "Close the quote"),
    ("hosts: [a, b\n" + NET, 2, "YAML syntax error"),
    (NET + "---\nlayout: auto\n", 3, "remove the second `---`"),
    ("network:\n  addresses: *nope\n", 2, "Define the anchor"),
])
def test_yaml_syntax_errors_have_a_line(text, line, fragment):
    e = fails(text, None, line, fragment)
    assert e.key is None and e.message.startswith("YAML syntax error: ")


# -- files ----------------------------------------------------------------------------------

def test_load_names_the_file(tmp_path):
    path = str(tmp_path / "pool.yaml")
    with open(path, "w") as f:
        f.write("network:\n  addresses: 10.0.50.0/24\n  mtu: 99\n")
    with pytest.raises(ManifestError) as err:
        manifest.load(path)
    assert (err.value.path, err.value.line, err.value.key) == (path, 3, "network.mtu")
    assert str(err.value).startswith("%s, line 3, column 8: `network.mtu` " % path)


def test_load_missing_file_and_bad_encoding(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(ManifestError) as err:
        manifest.load(missing)
    assert err.value.path == missing and err.value.line is None and "-f xosan.yaml" in str(err.value)
    assert str(err.value).startswith(missing + ": cannot read")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"network:\n  addresses: 10.0.50.0/24\n  name: caf\xe9\n")
    with pytest.raises(ManifestError) as err:
        manifest.load(str(bad))
    assert (err.value.line, err.value.column) == (3, 12) and "UTF-8" in str(err.value)


def test_control_characters_are_refused_with_a_line():
    fails("network:\n  addresses: 10.0.50.0/24\n  name: a\x07b\n", None, 3, "not allowed")


def test_relative_password_file_is_relative_to_the_manifest(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "xosan.yaml"
    path.write_text(u"pool: {password-file: ../pw}\n" + NET)
    assert manifest.load(str(path)).pool.password_file == str(tmp_path / "pw")
    assert manifest.loads("pool: {password-file: ../pw}\n" + NET).pool.password_file == "../pw"


def test_utf8_bom_and_names():
    m = manifest.loads(u"\ufeffnetwork: {addresses: 10.0.50.0/24, name: Réseau stockage}\n".encode("utf-8"))
    assert m.network.name == u"Réseau stockage"


# -- flags ----------------------------------------------------------------------------------

FLAGS_YAML = """
pool:
  master: https://192.168.1.10
  username: admin
  password-file: /root/pw
hosts: [xcp1, xcp2, xcp3, xcp4, xcp5, xcp6]
storage:
  sr: Local storage
  brick-size: 500G
  reserve: 20G
network:
  mode: vlan
  name: Storage VLAN
  pif: eth2
  vlan: 42
  addresses: 172.16.0.0/24
  gateway: 172.16.0.1
  mtu: 9000
layout: disperse
disperse:
  data: 4
  redundancy: 2
vm:
  template: Debian storage
  memory: 2G
  vcpus: 4
volume: vms
sr-name: XOSAN VMs
"""


def test_from_flags_equals_the_yaml_manifest():
    from_yaml = manifest.loads(FLAGS_YAML)
    from_flags = manifest.from_flags(
        master="https://192.168.1.10", username="admin", password_file="/root/pw",
        hosts="xcp1,xcp2,xcp3,xcp4,xcp5,xcp6", sr="Local storage", brick_size="500G", reserve="20G",
        network_mode="vlan", network_name="Storage VLAN", pif="eth2", vlan=42,
        addresses="172.16.0.0/24", gateway="172.16.0.1", mtu="9000", layout="disperse",
        disperse_data=4, disperse_redundancy="2", template="Debian storage", memory="2G", vcpus=4,
        volume="vms", sr_name="XOSAN VMs", witness=None)
    assert from_flags == from_yaml
    assert manifest.to_dict(from_flags) == manifest.to_dict(from_yaml)
    assert (from_flags.source, from_flags.locations) == ("<flags>", {})
    assert from_flags.storage.brick_size == 500 * GiB and from_flags.network.vlan == 42


def test_from_flags_hosts_forms():
    base = dict(addresses="10.0.50.0/24")
    assert manifest.from_flags(hosts="all", **base).hosts == ALL
    assert manifest.from_flags(hosts=["a", "b"], **base).hosts == ["a", "b"]
    assert manifest.from_flags(hosts=" a , b ", **base).hosts == ["a", "b"]
    two = manifest.from_flags(hosts="a,b", witness="10.0.50.9", **base)
    assert two.witness == "10.0.50.9"


@pytest.mark.parametrize("key,kw,fragments", [
    ("--addresses", dict(addresses="10.0.50.7/24"), ("host bits", "`--addresses 10.0.50.0/24`")),
    ("--addresses", dict(), ("is required", "add `--addresses 10.0.50.0/24`")),
    ("--hosts", dict(hosts="xcp1"), ("2 to 16", "`--hosts xcp1,xcp2,xcp3`", "`--hosts all`")),
    ("--hosts", dict(hosts="a,b,a"), ("`a` twice", "`--hosts a,b`")),
    ("--pif", dict(network_mode="vlan", vlan=5), ("required with `--network-mode vlan`", "add `--pif eth1`")),
    ("--vlan", dict(vlan=5), ("only used with `--network-mode vlan`",)),
    ("--brick-size", dict(brick_size="12X"), ("not a size", "`--brick-size 500G`", "`--brick-size all`")),
    ("--network-mode", dict(network_mode="bridge"), ("existing, vlan",)),
    ("--disperse-data", dict(disperse_data=2, disperse_redundancy=1), ("only used with `--layout disperse`",)),
    ("--disperse-redundancy", dict(layout="disperse", disperse_data=2),
     ("required with `--disperse-data`", "add `--disperse-redundancy 1`")),
    ("--witness", dict(hosts="a,b,c", witness="10.0.50.9"), ("only used with 2 hosts", "`--hosts` lists 3")),
    ("--master", dict(master="xcp1"), ("`--master https://xcp1`",)),
    ("--template", dict(template=""), ("has no value", "`--template 'XOSAN storage VM'`")),
    ("--mtu", dict(mtu=True), ("not a whole number",)),
])
def test_from_flags_errors_name_the_flag(key, kw, fragments):
    if key != "--addresses":
        kw.setdefault("addresses", "10.0.50.0/24")
    flag_fails(key, *fragments, **kw)


def test_from_flags_rejects_unknown_keywords():
    with pytest.raises(TypeError) as err:
        manifest.from_flags(addresses="10.0.50.0/24", netwrok_mode="existing")
    assert "netwrok_mode" in str(err.value)


def test_manifest_error_for_later_checks():
    m = manifest.load(EXAMPLE)
    e = m.error("hosts[2]", "no host of the pool is named xcp3", "Check `xe host-list`")
    assert (e.key, e.path, e.line, e.column) == ("hosts[2]", EXAMPLE, 27, 5)
    assert str(e) == ("%s, line 27, column 5: `hosts[2]`: no host of the pool is named xcp3. "
                      "Check `xe host-list`" % EXAMPLE)
    assert m.error("network.gateway", "x").line == 38  # not written: its section
    flags = manifest.from_flags(addresses="10.0.50.0/24", hosts="a,b")
    e = flags.error("hosts[1]", "no host named b")
    assert (e.key, e.line, str(e)) == ("--hosts", None, "`--hosts`: no host named b")


# -- sizes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("1.5T", 3 * TiB // 2),
    ("500g", 500 * GiB),
    ("10GiB", 10 * GiB),
    ("10gb", 10 * GiB),
    ("512M", 512 * MiB),
    ("1k", KiB),
    (" 2 T ", 2 * TiB),
    ("4096B", 4096),
    ("0.5G", 512 * MiB),
    ("0G", 0),
])
def test_parse_size(text, expected):
    assert manifest.parse_size(text, "--brick-size") == expected


def test_parse_size_all():
    assert manifest.parse_size("all", "--brick-size", allow_all=True) == ALL
    assert manifest.parse_size("ALL", "storage.brick-size", allow_all=True) == ALL
    with pytest.raises(ManifestError) as err:
        manifest.parse_size("all", "--reserve")
    assert err.value.key == "--reserve" and "not allowed" in str(err.value)


@pytest.mark.parametrize("text,fragment", [
    ("12X", "not a size"),
    ("500", "500G"),
    ("1,5T", "1.5T"),
    ("", "not a size"),
    ("-1G", "not a size"),
    ("1.5.2G", "not a size"),
    ("5iB", "not a size"),
    ("1P", "not a size"),
])
def test_parse_size_errors(text, fragment):
    with pytest.raises(ManifestError) as err:
        manifest.parse_size(text, "--brick-size")
    e = err.value
    assert e.key == "--brick-size" and e.line is None and e.hint
    assert str(e).startswith("`--brick-size` ") and fragment in str(e)


@pytest.mark.parametrize("n,text", [
    (0, "0G"), (10 * GiB, "10G"), (3 * TiB // 2, "1.5T"), (1536 * MiB, "1.5G"), (512 * MiB, "512M"),
    (4096, "4K"), (1000, "1000B"), (TiB + 1, "%dB" % (TiB + 1)), (GiB + 3 * MiB, "1027M"),
])
def test_format_size_reads_back(n, text):
    assert manifest.format_size(n) == text
    assert manifest.parse_size(text, "x") == n


def test_yaml_size_with_comma_hint():
    fails("storage: {brick-size: '1,5T'}\n" + NET, "storage.brick-size", 1, "1.5T")


def test_manifest_error_is_a_config_error_with_location():
    e = ManifestError("network.mtu", "`network.mtu` is 99", "Write `mtu: 1500`", "x.yaml", 3, 8)
    assert isinstance(e, ConfigError)
    assert (e.key, e.path, e.line, e.column, e.location) == ("network.mtu", "x.yaml", 3, 8,
                                                             "x.yaml, line 3, column 8")
    assert str(e) == "x.yaml, line 3, column 8: `network.mtu` is 99. Write `mtu: 1500`"


def test_image_path_is_relative_to_the_manifest_file(tmp_path):
    sub = tmp_path / "deploy"
    sub.mkdir()
    path = sub / "xosan.yaml"
    path.write_text(NET + "vm:\n  image: ../build/appliance/manifest.json\n  image-sr: Local storage\n")
    m = manifest.load(str(path))
    assert m.vm.image == str(tmp_path / "build" / "appliance" / "manifest.json")
    assert m.vm.image_sr == "Local storage"
    m2 = manifest.loads(NET)
    assert m2.vm.image is None and m2.vm.image_sr == "auto"
    flags = manifest.from_flags(addresses="10.0.50.0/24", image="build/x.vhd")
    assert flags.vm.image == os.path.abspath("build/x.vhd")


@pytest.mark.parametrize("text,expected", [
    ("3F:A1:" + "00:" * 29 + "9C", "3fa1" + "00" * 29 + "9c"),
    ("sha256 Fingerprint=" + "AB:" * 31 + "CD", "ab" * 31 + "cd"),
    ("ab" * 32, "ab" * 32),
])
def test_tls_fingerprint_accepts_what_openssl_prints(text, expected):
    m = manifest.from_flags(addresses="10.0.50.0/24", master="https://10.0.0.1", tls_fingerprint=text)
    assert m.pool.tls_fingerprint == expected


def test_tls_fingerprint_errors():
    with pytest.raises(ManifestError) as err:
        manifest.from_flags(addresses="10.0.50.0/24", master="https://10.0.0.1", tls_fingerprint="AB:CD")
    assert "`--tls-fingerprint`" in str(err.value) and "not a SHA-256 fingerprint" in str(err.value)
    with pytest.raises(ManifestError) as err:
        manifest.loads("pool:\n  master: local\n  tls-fingerprint: %s\n%s" % ("ab" * 32, NET))
    assert err.value.line == 3 and "https" in str(err.value)


# -- the package: its layers and its public names ------------------------------------------------------

LAYERS = ["sizes", "model", "values", "wording", "yaml_reader", "fields", "rules"]


def _package_imports(name):
    import ast
    path = os.path.join(ROOT, "xosan", "pool", "manifest", name + ".py")
    with open(path) as fh:
        tree = ast.parse(fh.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_each_module_imports_only_those_below_it():
    for i, name in enumerate(LAYERS):
        imports = _package_imports(name)
        ours = set(m.rsplit(".", 1)[1] for m in imports if m.startswith("xosan.pool.manifest."))
        assert ours <= set(LAYERS[:i]), (name, ours - set(LAYERS[:i]))
        if name != "yaml_reader":
            assert "yaml" not in imports, name  # only the reader knows YAML
    assert not [m for m in _package_imports("model") if "rules" in m or "fields" in m]


def test_the_package_keeps_the_public_names():
    for name in manifest.__all__:
        assert hasattr(manifest, name), name
    assert manifest.LAYOUTS is facts_layouts()
    assert manifest.ManifestError is manifest.model.ManifestError and issubclass(ManifestError, ConfigError)
    assert (KiB, MiB, GiB, TiB) == (1024, 1024 ** 2, 1024 ** 3, 1024 ** 4) and ALL == "all"
    for name in ("load", "loads", "from_flags", "parse_size", "format_size", "to_dict", "SCHEMA", "FLAG_KEYS",
                 "NETWORK_MODES", "DEFAULT_VOLUME", "Manifest", "NetworkSpec"):
        assert name in manifest.__all__


def facts_layouts():
    from xosan import facts
    return facts.LAYOUTS
