"""`xosan tune`: the option set as shipped (sized from cores), glusterd's `volume get` read back,
the dry-run diff and --apply (unit tests on answers recorded from the lab's glusterd 10.3), and one
lab test applying it to a deployed pool."""

import json
import os
import subprocess
import sys

import pytest
from labpool import pool_fixture

from xosan.cli.main import build_parser
from xosan.errors import GlusterError, VolumeNotFound, XosanError
from xosan.gluster import GlusterCLI, OptionValue, parse_volume_get
from xosan.gluster import options as gopts
from xosan.pool import tune

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "gluster")


def xml(name):
    with open(os.path.join(DATA, name)) as fh:
        return fh.read()


# -- the shipped set ------------------------------------------------------------------------------

def test_thread_counts_at_the_measured_two_cores():
    opts = dict((o, v) for o, v, _ in gopts.vm_image_options(2, 2))
    assert opts["performance.io-thread-count"] == "4"
    assert opts["server.event-threads"] == "2"
    assert opts["client.event-threads"] == "2"
    assert opts["performance.client-io-threads"] == "off"
    # unknown counts are the measured ones
    assert gopts.vm_image_options() == gopts.vm_image_options(2, 2)


def test_thread_counts_follow_each_side_and_stay_within_what_was_chosen_before():
    one = dict((o, v) for o, v, _ in gopts.sized_options(1, 8))
    assert (one["performance.io-thread-count"], one["server.event-threads"], one["client.event-threads"]) == \
        ("2", "1", "4")
    big = dict((o, v) for o, v, _ in gopts.sized_options(16, 3))
    assert (big["performance.io-thread-count"], big["server.event-threads"], big["client.event-threads"]) == \
        ("16", "4", "3")


@pytest.mark.parametrize("bad", [0, -2, "two", 1.5j])
def test_bad_core_counts_are_refused_clearly(bad):
    with pytest.raises(XosanError) as e:
        gopts.sized_options(bad, 2)
    assert "storage VM vCPUs" in str(e.value)


def test_safety_items_and_quorum_and_sharding_are_kept():
    shipped = dict((o, v) for o, v, _ in gopts.SAFETY_OPTIONS + gopts.vm_image_options())
    assert shipped["performance.strict-o-direct"] == "on"
    assert shipped["network.remote-dio"] == "disable"
    assert shipped["features.shard"] == "on" and shipped["features.shard-block-size"] == "64MB"
    assert shipped["cluster.quorum-type"] == "auto" and shipped["cluster.server-quorum-ratio"] == "51%"
    assert "storage.linux-aio" not in shipped
    assert all(why.strip() for _, _, why in gopts.SAFETY_OPTIONS + gopts.vm_image_options())


def test_volume_set_commands_group_first_cluster_wide_on_all():
    cmds = gopts.volume_set_commands("vol", storage_vcpus=4, dom0_cores=8)
    assert cmds[0] == ["volume", "set", "vol", "group", "virt"]
    assert ["volume", "set", "all", "cluster.server-quorum-ratio", "51%"] in cmds
    assert ["volume", "set", "vol", "performance.io-thread-count", "8"] in cmds
    assert ["volume", "set", "vol", "server.event-threads", "4"] in cmds
    assert all(c[:3] == ["volume", "set", "vol"] for c in cmds if c[3] != "cluster.server-quorum-ratio")


# -- volume get -----------------------------------------------------------------------------------

def test_parse_volume_get_values_and_defaults():
    opts = parse_volume_get(xml("volume-get-all-prev.xml"))
    assert len(opts) > 300
    assert opts["performance.io-thread-count"].value == "16" and opts["performance.io-thread-count"].default
    assert opts["client.event-threads"].value == "4" and not opts["client.event-threads"].default
    assert opts["cluster.server-quorum-ratio"].value == "51%"
    assert opts["features.shard-block-size"].value == "64MB"
    assert opts["cluster.subvols-per-directory"].value == "(null)"


def test_parse_volume_get_failure_is_a_gluster_error():
    with pytest.raises(GlusterError) as e:
        parse_volume_get(xml("volume-get-missing.xml"))
    assert "does not exist" in str(e.value)


class Res(object):
    def __init__(self, stdout, returncode=0):
        self.stdout, self.stderr, self.returncode = stdout, "", returncode


def test_cli_volume_get_names_the_volume_and_maps_a_missing_one():
    seen = []

    def runner(argv, timeout=None, check=True):
        seen.append(argv)
        return Res(xml("volume-get-missing.xml") if "nosuch" in argv else xml("volume-get-all-shipped.xml"),
                   1 if "nosuch" in argv else 0)
    cli = GlusterCLI(runner=runner)
    assert cli.volume_get("xosan")["performance.io-thread-count"].value == "4"
    assert seen[0][-5:] == ["volume", "get", "xosan", "all", "--xml"]
    with pytest.raises(VolumeNotFound):
        cli.volume_get("nosuch")


# -- the diff ------------------------------------------------------------------------------------

def test_normal_spellings():
    assert tune.normal("enable") == tune.normal("on") == tune.normal("ON ") == "on"
    assert tune.normal("disable") == tune.normal("off") == tune.normal("no")
    assert tune.normal("51%") == tune.normal("51")
    assert tune.normal("64MB") == tune.normal("64mb")
    assert tune.normal("4") != tune.normal("16")


def by_action(changes):
    out = {}
    for c in changes:
        out.setdefault(c.action, []).append(c.option)
    return out


def test_diff_of_a_volume_made_before_issue_14():
    changes = tune.diff(parse_volume_get(xml("volume-get-all-prev.xml")), tune.wanted(2, 2))
    got = by_action(changes)
    assert sorted(got[tune.SET]) == ["client.event-threads", "client.tcp-user-timeout",
                                     "performance.client-io-threads", "performance.io-thread-count",
                                     "server.event-threads"]
    assert tune.FROZEN not in got and tune.UNKNOWN not in got
    iot = [c for c in changes if c.option == "performance.io-thread-count"][0]
    assert (iot.now, iot.default, iot.want) == ("16", True, "4")
    assert iot.why == dict((o, w) for o, _, w in gopts.vm_image_options(2, 2))["performance.io-thread-count"]


def test_diff_of_the_shipped_volume_is_empty():
    # captured before client.tcp-user-timeout joined the set (issue 13): that is the one difference
    changes = tune.diff(parse_volume_get(xml("volume-get-all-shipped.xml")), tune.wanted(2, 2))
    got = by_action(changes)
    assert got[tune.SET] == ["client.tcp-user-timeout"] and set(got) == {tune.SAME, tune.SET}
    tut = [c for c in changes if c.option == "client.tcp-user-timeout"][0]
    assert (tut.now, tut.want) == ("0", "3")
    # sized for other cores, the same volume differs only in the thread counts (and that option)
    got = by_action(tune.diff(parse_volume_get(xml("volume-get-all-shipped.xml")), tune.wanted(4, 4)))
    assert sorted(got[tune.SET]) == ["client.event-threads", "client.tcp-user-timeout",
                                     "performance.io-thread-count", "server.event-threads"]


def test_diff_of_a_stock_volume_never_turns_sharding_on():
    got = by_action(tune.diff(parse_volume_get(xml("volume-get-all-stock.xml")), tune.wanted(2, 2)))
    assert got[tune.FROZEN] == ["features.shard"]
    assert "network.ping-timeout" in got[tune.SET] and "performance.strict-o-direct" in got[tune.SET]
    # 64MB is GlusterFS's default shard size: the same, so nothing creation-only is set
    assert "features.shard-block-size" in got[tune.SAME]


def test_an_option_this_glusterd_lacks_is_left_alone():
    current = parse_volume_get(xml("volume-get-all-shipped.xml"))
    del current["cluster.heal-timeout"]
    [c] = [c for c in tune.diff(current, tune.wanted(2, 2)) if c.option == "cluster.heal-timeout"]
    assert c.action == tune.UNKNOWN and c.now is None


# -- plan, apply, summary ------------------------------------------------------------------------

class FakeCLI(object):
    """glusterd's option table: volume_set changes it (unless ``sticky``), volume_get reads it."""

    def __init__(self, text, sticky=()):
        self.opts = parse_volume_get(text)
        self.sets = []
        self.sticky = sticky

    def volume_get(self, volume, option="all"):
        return dict((k, OptionValue(v.name, v.value, v.default)) for k, v in self.opts.items())

    def volume_set(self, target, option, value):
        self.sets.append((target, option, value))
        if option not in self.sticky:
            self.opts[option] = OptionValue(option, value, False)


def cores22():
    return tune.Cores(2, "test", 2, "test")


def test_dry_run_sets_nothing_and_says_so():
    cli = FakeCLI(xml("volume-get-all-prev.xml"))
    p = tune.plan(cli, "xosan", cores22())
    lines = tune.summary(p)
    assert cli.sets == []
    text = "\n".join(lines)
    assert "Dry run: nothing changed" in text and "--apply" in text and "online" in text
    # the captured volume predates client.tcp-user-timeout, which only new connections get
    assert "Except client.tcp-user-timeout: applied to connections made after it" in text
    row = [ln for ln in lines if "performance.io-thread-count" in ln][0]
    assert "16 (default)" in row and " 4 " in row
    assert len(lines) <= 24 and max(len(ln) for ln in lines) <= 200
    doc = json.loads(json.dumps(p.as_dict()))
    assert doc["to_set"] == 5 and doc["cores"]["storage_vm_vcpus"] == 2


def test_apply_sets_what_differs_and_reads_it_back():
    cli = FakeCLI(xml("volume-get-all-stock.xml"))
    before = tune.plan(cli, "xosan", cores22())
    after = tune.apply(cli, before)
    assert [s[1] for s in cli.sets] == [c.option for c in before.to_set()]
    assert ("all", "cluster.server-quorum-ratio", "51%") not in cli.sets  # already 51% on stock
    assert all(t == "xosan" for t, o, _ in cli.sets if o not in gopts.CLUSTER_WIDE)
    assert "features.shard" not in [s[1] for s in cli.sets]
    assert after.to_set() == [] and [c.option for c in after.left()] == ["features.shard"]
    assert "Applied" in tune.summary(after, applied=True)[-1]


def test_cluster_wide_option_goes_to_all():
    cli = FakeCLI(xml("volume-get-all-shipped.xml"))
    cli.opts["cluster.server-quorum-ratio"] = OptionValue("cluster.server-quorum-ratio", "60%")
    cli.opts["client.tcp-user-timeout"] = OptionValue("client.tcp-user-timeout", "3")  # captured before it
    tune.apply(cli, tune.plan(cli, "xosan", cores22()))
    assert cli.sets == [("all", "cluster.server-quorum-ratio", "51%")]


def test_apply_fails_when_glusterd_keeps_the_old_value():
    cli = FakeCLI(xml("volume-get-all-prev.xml"), sticky=("server.event-threads",))
    with pytest.raises(tune.TuneError) as e:
        tune.apply(cli, tune.plan(cli, "xosan", cores22()))
    assert "server.event-threads=4 (wanted 2)" in str(e.value)


class FakeX(object):
    def __init__(self, vms):
        self.vms = vms

    def call(self, fn, *args):
        return fn(*args)


class FakeInventory(object):
    def __init__(self, mine, all_vms):
        self._mine = mine
        self.x = FakeX(all_vms)

        class VM(object):
            get_all_records = staticmethod(lambda: all_vms)

        class Api(object):
            pass
        self.api = Api()
        self.api.VM = VM

    def mine(self, cls):
        return self._mine


def test_cores_from_the_storage_vms_and_control_domains():
    mine = [("v1", {"VCPUs_at_startup": "4"}), ("v2", {"VCPUs_at_startup": "2"})]
    allv = {"d1": {"is_control_domain": True, "VCPUs_at_startup": "8"},
            "d2": {"is_control_domain": True, "VCPUs_at_startup": "6"}, "v1": mine[0][1], "v2": mine[1][1]}
    c = tune.cores(FakeInventory(mine, allv), manifest_vcpus=4)
    assert (c.storage_vcpus, c.dom0_cores) == (2, 6)
    assert "control domains" in c.dom0_source


def test_cores_fall_back_to_the_manifest_and_the_measured_default():
    c = tune.cores(FakeInventory([], {}), manifest_vcpus=3)
    assert (c.storage_vcpus, c.dom0_cores) == (3, gopts.MEASURED_CORES)
    assert "vm.vcpus" in c.storage_source and "assumed" in c.dom0_source


def test_tune_command_is_registered():
    args = build_parser().parse_args(["tune", "--apply", "--json", "--volume", "v"])
    assert args.apply and args.json and args.func.__name__ == "cmd_tune"
    assert not build_parser().parse_args(["tune"]).apply


# -- on a deployed pool ----------------------------------------------------------------------------

pool = pool_fixture(3, 90)

# What a deployment made before issue 14 has (the virt group's thread settings, GlusterFS's
# io-thread-count): put back on a fresh deployment, which is what tune must find and fix.
OLD = [("performance.io-thread-count", "16"), ("client.event-threads", "4"), ("server.event-threads", "4"),
       ("performance.client-io-threads", "on")]


def xosan_cli(pool, *args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "xosan"] + list(args) + pool.cli_args(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          stdin=subprocess.DEVNULL)


def glusterd_view(pool, volume):
    out = pool.lab.nodes[0].gluster(["volume", "get", volume, "all", "--xml"]).stdout
    return dict((k, v.value) for k, v in parse_volume_get(out).items())


@pytest.mark.gluster
def test_tune_on_a_deployed_pool_dry_run_then_apply(pool):
    sr, _ = pool.deployment().run()
    volume = pool.manifest().volume
    shipped = dict((o, v) for o, v, _ in gopts.vm_image_options(2, 2))
    view = glusterd_view(pool, volume)
    for option, value in shipped.items():  # deploy gave it the shipped set
        assert tune.normal(view[option]) == tune.normal(value), option
    node = pool.lab.nodes[0]
    for option, value in OLD:
        node.gluster(["volume", "set", volume, option, value])
    before = glusterd_view(pool, volume)

    dry = xosan_cli(pool, "tune")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "Dry run: nothing changed" in dry.stdout
    for option, value in OLD:
        [row] = [ln.split() for ln in dry.stdout.splitlines() if ln.strip().startswith(option + " ")]
        assert row[1:3] == [value, shipped[option]], dry.stdout
    assert glusterd_view(pool, volume) == before  # the dry run changed nothing

    js = xosan_cli(pool, "tune", "--json")
    assert js.returncode == 0, js.stderr
    doc = json.loads(js.stdout)
    assert doc["applied"] is False and doc["before"]["to_set"] == len(OLD)
    assert sorted(c["option"] for c in doc["before"]["changes"] if c["action"] == "set") == sorted(o for o, _ in OLD)
    assert glusterd_view(pool, volume) == before

    applied = xosan_cli(pool, "tune", "--apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Applied" in applied.stdout
    after = glusterd_view(pool, volume)
    for option, _ in OLD:
        assert after[option] == shipped[option], option
    changed = set(k for k in after if after[k] != before[k])
    assert changed == set(o for o, _ in OLD)  # nothing else moved

    # online: every host's mount of the SR still writes and reads, with no remount
    sr_uuid = pool.sim.db["SR"][sr]["uuid"]
    hosts = sorted(h["name_label"] for h in pool.sim.db["host"].values())
    assert len(hosts) == 3
    for host in hosts:
        data = host.encode() * 1024
        with open(pool.mount_path(host, sr_uuid, "tune-%s" % host), "wb") as fh:
            fh.write(data)
        with open(pool.mount_path(hosts[0], sr_uuid, "tune-%s" % host), "rb") as fh:
            assert fh.read() == data

    again = xosan_cli(pool, "tune")
    assert again.returncode == 0 and "Nothing to change" in again.stdout, again.stdout + again.stderr
