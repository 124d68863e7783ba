"""The dom0 package: `make rpm` builds xosan-<version>-<release>.noarch.rpm.

The RPM is built once (Debian's rpmbuild), then checked with rpm's own queries (layout,
symlink, modes, requirements, scriptlets), unpacked with rpm2cpio | cpio, and the driver
it installs is run the way xapi runs it, on the SM framework test double, with the
packaged xosan package (not the repository's) on the path. The scriptlets that can run
off dom0 (%post, the triggers, %preun) are run for real against fake files.
"""

import os
import re
import shutil
import subprocess
import sys
import uuid as uuidlib
import xmlrpc.client

import pytest

from xosan_lab.dom0 import Dom0

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = ("make", "git", "tar", "rpmbuild", "rpm", "rpm2cpio", "cpio")

SITELIB = "/usr/lib/python3.6/site-packages"
UNITS = "/usr/lib/systemd/system"
SM_DIR = "/opt/xensource/sm"
CONF_D_FILE = "/etc/xapi.conf.d/zz-xosan-sm-plugins.conf"
PLUGIN = "/etc/xapi.d/plugins/xosan"
XCPNG_LIST = ("ext nfs iscsi lvmoiscsi dummy file hba rawhba udev iso lvm lvmohba lvmofcoe shm smb "
              "cephfs glusterfs xfs zfs largeblock")
SR_UUID = "3f1b9a52-6c0e-4d3a-9a51-0c2f7e8b1d44"


def _version():
    with open(os.path.join(ROOT, "xosan", "__init__.py")) as fh:
        return re.search(r'^__version__ = "([^"]+)"', fh.read(), re.MULTILINE).group(1)


def run(cmd, **kw):
    kw.setdefault("timeout", 600)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                          universal_newlines=True, **kw)


def check(cmd, **kw):
    res = run(cmd, **kw)
    assert res.returncode == 0, "%s exited %s\nstdout: %s\nstderr: %s" % (
        " ".join(cmd), res.returncode, res.stdout, res.stderr)
    return res.stdout


@pytest.fixture(scope="session")
def rpm_file(tmp_path_factory):
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        pytest.fail("building and checking the RPM needs %s (bash .ci/run installs them)" % ", ".join(missing))
    out = str(tmp_path_factory.mktemp("rpm-out"))
    env = dict(os.environ)
    env.pop("RPM_RELEASE", None)
    check(["make", "--no-print-directory", "rpm", "RPM_OUT=" + out], cwd=ROOT, env=env)
    built = sorted(os.listdir(out))
    assert built == ["xosan-%s-1.noarch.rpm" % _version()]
    return os.path.join(out, built[0])


@pytest.fixture(scope="session")
def installed_root(rpm_file, tmp_path_factory):
    """The package's payload unpacked as it lands on a host: <root>/opt/..., <root>/usr/..."""
    root = str(tmp_path_factory.mktemp("dom0-root"))
    check(["bash", "-o", "pipefail", "-c", 'rpm2cpio "$1" | cpio -idm --quiet --no-absolute-filenames',
           "unpack", rpm_file], cwd=root)
    return root


def query(rpm_file, fmt):
    return check(["rpm", "-qp", "--queryformat", fmt, rpm_file])


def files_of(rpm_file):
    return check(["rpm", "-qlp", rpm_file]).split()


def scripts(rpm_file):
    tags = ("PREIN", "POSTIN", "PREUN", "POSTUN")
    return {t: query(rpm_file, "%%{%s}" % t) for t in tags}


# -- metadata and layout ------------------------------------------------------------------

def test_name_version_release_arch(rpm_file):
    out = query(rpm_file, "%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{LICENSE}|%{PAYLOADCOMPRESSOR}")
    name, version, release, arch, license_, compressor = out.split("|")
    assert (name, version, release, arch) == ("xosan", _version(), "1", "noarch")
    assert license_ == "GPLv2"
    # dom0's rpm 4.11 reads gzip and xz payloads, not zstd.
    assert compressor == "gzip"


def test_layout(rpm_file):
    files = files_of(rpm_file)
    for path in (SM_DIR + "/XOSANSR.py", SM_DIR + "/XOSANSR", SM_DIR + "/xosan-gc", SITELIB + "/xosan/sr/gc.py",
                 "/usr/bin/xosan",
                 SITELIB + "/xosan", SITELIB + "/xosan/__init__.py", SITELIB + "/xosan/cli/main.py",
                 SITELIB + "/xosan/sr/devconfig.py", SITELIB + "/xosan/sr/volume_sr.py", CONF_D_FILE,
                 PLUGIN, SITELIB + "/xosan/plugin.py"):
        assert path in files
    allowed = (SM_DIR + "/XOSAN", SM_DIR + "/xosan-gc", SITELIB + "/xosan", "/usr/bin/xosan", CONF_D_FILE,
               "/usr/share/doc/xosan", PLUGIN, UNITS + "/xosan-alerts.", UNITS + "/timers.target.wants/xosan-alerts.")
    strays = [f for f in files if not f.startswith(allowed)]
    assert strays == []
    assert not [f for f in files if f.endswith((".pyc", ".pyo")) or "__pycache__" in f]


def test_every_dom0_module_ships_and_the_lab_does_not(rpm_file):
    files = set(files_of(rpm_file))
    assert not [f for f in files if "xosan_lab" in f]
    known = check(["git", "ls-files", "--cached", "--others", "--exclude-standard", "xosan"], cwd=ROOT).split()
    modules = [f for f in known if f.endswith(".py") and os.path.isfile(os.path.join(ROOT, f))]
    assert "xosan/sr/volume_sr.py" in modules
    for mod in modules:
        assert SITELIB + "/" + mod in files


def test_driver_symlink_and_modes(rpm_file):
    rows = query(rpm_file, "[%{FILENAMES}\t%{FILEMODES:perms}\t%{FILELINKTOS}\t%{FILEFLAGS:fflags}"
                           "\t%{FILEUSERNAME}:%{FILEGROUPNAME}\n]")
    info = {}
    for row in rows.splitlines():
        path, perms, link, flags, owner = row.split("\t")
        info[path] = (perms, link, flags, owner)
    assert info[SM_DIR + "/XOSANSR"][:2] == ("lrwxrwxrwx", "XOSANSR.py")
    assert info[SM_DIR + "/XOSANSR.py"][0] == "-rwxr-xr-x"
    assert info["/usr/bin/xosan"][0] == "-rwxr-xr-x"
    assert info[PLUGIN][0] == "-rwxr-xr-x"
    assert info[SITELIB + "/xosan/__init__.py"][0] == "-rw-r--r--"
    # The conf.d file is written by %post; the package owns it as a ghost (not in the payload).
    assert "g" in info[CONF_D_FILE][2]
    assert {v[3] for v in info.values()} == {"root:root"}


def test_requires(rpm_file):
    reqs = {line.strip() for line in check(["rpm", "-qp", "--requires", rpm_file]).splitlines()}
    for req in ("/sbin/mount.glusterfs",                        # glusterfs-fuse: mount -t glusterfs
                "/usr/sbin/gluster",                            # glusterfs-cli: volume info --xml
                "libgfapi.so.0()(64bit)",                       # glusterfs-api
                "/usr/sbin/glfsheal",                           # glusterfs-server: heal counts
                "python3.6dist(pyyaml)",                        # PyYAML for dom0's Python
                SITELIB + "/XenAPI.py",                         # xapi-core's XenAPI module
                SITELIB + "/XenAPIPlugin.py",                   # xapi-core's, for the host plugin
                "/usr/bin/python3", "python(abi) = 3.6", "sm"):
        assert req in reqs
    # Nothing dom0's rpm 4.11 (CentOS 7 based) cannot install: no rich or file-trigger deps.
    rpmlib = {r.split()[0] for r in reqs if r.startswith("rpmlib(")}
    assert rpmlib <= {"rpmlib(CompressedFileNames)", "rpmlib(FileDigests)",
                      "rpmlib(PayloadFilesHavePrefix)", "rpmlib(PayloadIsXz)"}
    assert not [r for r in reqs if r.startswith("(")]


def test_scriptlets_text(rpm_file):
    text = check(["rpm", "-qp", "--scripts", rpm_file])
    s = scripts(rpm_file)
    # %post registers the type and tells the admin to restart the toolstack, never doing it.
    assert "sm-plugins=" in s["POSTIN"] and "zz-xosan-sm-plugins.conf" in s["POSTIN"]
    assert "xe sm-list type=xosan" in s["POSTIN"]
    restart_lines = [line.strip() for line in text.splitlines() if "xe-toolstack-restart" in line]
    assert restart_lines and all(line.startswith(("echo ", "[ ")) and '"' in line for line in restart_lines)
    assert "systemctl" not in text and "service " not in text
    assert "/etc/xapi.conf\"" in s["POSTIN"] or "/etc/xapi.conf}" in s["POSTIN"]
    assert "> /etc/xapi.conf" not in text and "sed -i" not in text
    # %preun refuses on erase only, from /proc/mounts.
    assert '[ "$1" -eq 0 ]' in s["PREUN"]
    assert "/proc/mounts" in s["PREUN"] and "fuse.glusterfs" in s["PREUN"]
    assert "/var/run/sr-mount/xosan/" in s["PREUN"] and "/run/sr-mount/xosan/" in s["PREUN"]
    # %postun removes the conf.d file on erase only.
    assert '[ "$1" -eq 0 ]' in s["POSTUN"] and "zz-xosan-sm-plugins.conf" in s["POSTUN"]
    triggers = check(["rpm", "-qp", "--triggers", rpm_file])
    assert "triggerin scriptlet (using /bin/sh) -- xapi-core" in triggers
    assert "-- xcp-ng-linstor" in triggers


# -- the scriptlets, run ------------------------------------------------------------------

@pytest.fixture
def fake_dom0(tmp_path):
    """A fake /etc/xapi.conf + /etc/xapi.conf.d, and a PATH where toolstack commands only record calls."""
    conf = tmp_path / "xapi.conf"
    conf.write_text("# xapi config\n# sm-plugins=commented out\nsm-plugins=%s\n" % XCPNG_LIST)
    confd = tmp_path / "xapi.conf.d"
    confd.mkdir()
    (confd / "tracing.conf").write_text("tracing-enabled = false\n")
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    calls = tmp_path / "calls"
    for tool in ("xe-toolstack-restart", "systemctl", "service", "xe"):
        script = fakebin / tool
        script.write_text("#!/bin/sh\necho \"$0 $*\" >> %s\n" % calls)
        script.chmod(0o755)
    env = dict(os.environ)
    env.update({"PATH": "%s:%s" % (fakebin, env.get("PATH", "/usr/bin:/bin")),
                "XOSAN_TEST_XAPI_CONF": str(conf), "XOSAN_TEST_XAPI_CONF_DIR": str(confd)})
    return {"conf": conf, "confd": confd, "ours": confd / "zz-xosan-sm-plugins.conf",
            "calls": calls, "env": env, "tmp": tmp_path}


def run_script(fake, body, *args):
    path = fake["tmp"] / "scriptlet.sh"
    path.write_text(body)
    return run(["sh", str(path)] + list(args), env=fake["env"], cwd=str(fake["tmp"]))


def sm_plugins_line(path):
    lines = [line for line in path.read_text().splitlines() if line.startswith("sm-plugins=")]
    assert len(lines) == 1
    return lines[0][len("sm-plugins="):].split()


def test_post_adds_xosan_to_the_list_in_conf_d_and_does_not_restart(rpm_file, fake_dom0):
    before = fake_dom0["conf"].read_text()
    res = run_script(fake_dom0, scripts(rpm_file)["POSTIN"], "1")
    assert res.returncode == 0, res.stderr
    assert sm_plugins_line(fake_dom0["ours"]) == XCPNG_LIST.split() + ["xosan"]
    assert fake_dom0["conf"].read_text() == before
    assert oct(fake_dom0["ours"].stat().st_mode & 0o777) == oct(0o644)
    assert "xe-toolstack-restart" in res.stdout and "xe sm-list type=xosan" in res.stdout
    assert not fake_dom0["calls"].exists()
    # Idempotent: a second run (upgrade, reinstall) leaves the same single list.
    res = run_script(fake_dom0, scripts(rpm_file)["POSTIN"], "2")
    assert res.returncode == 0
    assert sm_plugins_line(fake_dom0["ours"]) == XCPNG_LIST.split() + ["xosan"]
    assert sorted(p.name for p in fake_dom0["confd"].iterdir()) == ["tracing.conf", "zz-xosan-sm-plugins.conf"]


def test_post_follows_the_list_xapi_would_use(rpm_file, fake_dom0):
    # A conf.d file that replaces the list (as xcp-ng-linstor's does) wins over xapi.conf.
    (fake_dom0["confd"] / "99-enable-sm-driver-linstor.conf").write_text(
        "# DO NOT MODIFY: Add sm linstor plugin.\nsm-plugins=ext nfs lvm linstor\n")
    # A stale copy of ours must not feed itself.
    fake_dom0["ours"].write_text("sm-plugins=old xosan\n")
    res = run_script(fake_dom0, scripts(rpm_file)["POSTIN"], "1")
    assert res.returncode == 0, res.stderr
    assert sm_plugins_line(fake_dom0["ours"]) == ["ext", "nfs", "lvm", "linstor", "xosan"]


def test_post_never_doubles_xosan_nor_expands_a_wildcard(rpm_file, fake_dom0):
    fake_dom0["conf"].write_text("sm-plugins = \"ext XOSAN *\"   # every plugin\n")
    res = run_script(fake_dom0, scripts(rpm_file)["POSTIN"], "1")
    assert res.returncode == 0, res.stderr
    assert sm_plugins_line(fake_dom0["ours"]) == ["ext", "XOSAN", "*"]


def test_post_without_any_list_writes_nothing_and_says_so(rpm_file, fake_dom0):
    fake_dom0["conf"].write_text("# nothing here\n")
    res = run_script(fake_dom0, scripts(rpm_file)["POSTIN"], "1")
    assert res.returncode == 0
    assert not fake_dom0["ours"].exists()
    assert "by hand" in res.stderr


def test_xapi_core_trigger_follows_a_new_xapi_conf(rpm_file, fake_dom0):
    post = scripts(rpm_file)["POSTIN"]
    assert run_script(fake_dom0, post, "1").returncode == 0
    trigger = query(rpm_file, "[%{TRIGGERSCRIPTS}\n--next--\n]").split("\n--next--\n")[0]
    assert "zz-xosan-sm-plugins.conf" in trigger
    res = run_script(fake_dom0, trigger, "1", "1")
    assert res.returncode == 0 and res.stdout == ""                 # nothing changed: silent
    fake_dom0["conf"].write_text("sm-plugins=%s newtype\n" % XCPNG_LIST)  # xapi-core update
    res = run_script(fake_dom0, trigger, "1", "1")
    assert res.returncode == 0
    assert sm_plugins_line(fake_dom0["ours"]) == XCPNG_LIST.split() + ["newtype", "xosan"]
    assert "xe-toolstack-restart" in res.stdout
    assert not fake_dom0["calls"].exists()


def mounts_file(fake, *lines):
    path = fake["tmp"] / "mounts"
    path.write_text("".join(line + "\n" for line in lines))
    fake["env"]["XOSAN_TEST_PROC_MOUNTS"] = str(path)


BASE_MOUNTS = ("/dev/sda1 / ext3 rw,relatime 0 0",
               "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0",
               # xcp-ng's own glusterfs SR type: not ours
               ("10.0.0.5:/gv0 /run/sr-mount/7d1d2a0e-3c6b-4c55-8f0c-1a2b3c4d5e6f fuse.glusterfs "
                "rw,relatime,user_id=0,group_id=0,default_permissions,allow_other,max_read=131072 0 0"),
               # a NFS SR
               "10.0.0.9:/export/sr /run/sr-mount/0c8e4f7a-1111-2222-3333-444455556666 nfs rw 0 0")


@pytest.mark.parametrize("mount_base", ["/run/sr-mount/xosan", "/var/run/sr-mount/xosan"])
def test_preun_refuses_erase_while_a_xosan_sr_is_attached(rpm_file, fake_dom0, mount_base):
    mounts_file(fake_dom0, *(BASE_MOUNTS + (
        "10.0.50.11:/xosan %s/%s fuse.glusterfs rw,relatime,user_id=0,group_id=0,"
        "default_permissions,allow_other,max_read=131072 0 0" % (mount_base, SR_UUID),)))
    preun = scripts(rpm_file)["PREUN"]
    res = run_script(fake_dom0, preun, "0")                          # erase
    assert res.returncode != 0
    assert "NOT removed" in res.stderr and SR_UUID in res.stderr and "pbd-unplug" in res.stderr
    res = run_script(fake_dom0, preun, "1")                          # upgrade: never refused
    assert res.returncode == 0, res.stderr


def test_preun_allows_erase_without_a_xosan_sr_attached(rpm_file, fake_dom0):
    mounts_file(fake_dom0, *(BASE_MOUNTS + (
        # something else mounted under the xosan base is not a xosan SR
        "tmpfs /run/sr-mount/xosan/scratch tmpfs rw 0 0",)))
    res = run_script(fake_dom0, scripts(rpm_file)["PREUN"], "0")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""


# -- the installed files, run -------------------------------------------------------------

@pytest.fixture
def packaged_dom0(installed_root, tmp_path):
    """A lab dom0 (the real SM framework) holding the RPM's files where the RPM puts them:
    the driver and xosan-gc in /opt/xensource/sm, the plugin, the packaged xosan package."""
    d = Dom0(str(tmp_path / "dom0"), str(uuidlib.uuid4()), None,
             sm_files=[(installed_root + SM_DIR + "/" + f, f) for f in ("XOSANSR.py", "xosan-gc")],
             plugins=[(installed_root + PLUGIN, "xosan")], site_packages=installed_root + SITELIB).up()
    yield d
    d.down()


def test_installed_tree(installed_root):
    driver = installed_root + SM_DIR + "/XOSANSR"
    assert os.path.islink(driver) and os.readlink(driver) == "XOSANSR.py"
    assert os.access(driver, os.X_OK)
    with open(driver) as fh:
        assert fh.readline().rstrip("\n") == "#!/usr/bin/python3"     # dom0's Python, not $PATH's
    gc_program = installed_root + SM_DIR + "/xosan-gc"
    assert os.access(gc_program, os.X_OK)
    with open(gc_program) as fh:
        assert fh.readline().rstrip("\n") == "#!/usr/bin/python3"
    with open(installed_root + "/usr/bin/xosan") as fh:
        launcher = fh.read()
    assert launcher.startswith("#!/usr/bin/python3\n") and "from xosan.cli.main import main" in launcher
    with open(installed_root + PLUGIN) as fh:
        assert fh.readline().rstrip("\n") == "#!/usr/bin/python3"
    assert os.access(installed_root + PLUGIN, os.X_OK)
    assert not os.path.exists(installed_root + SITELIB + "/xosan_lab")
    assert not os.path.exists(installed_root + CONF_D_FILE)           # ghost: made by %post


def test_installed_alert_timer_is_enabled_and_runs_a_shipped_module(installed_root):
    """xosan-alerts.timer is enabled by its wants link (the scriptlets never call systemctl),
    and the service runs dom0's Python on a module the package ships."""
    wants = installed_root + UNITS + "/timers.target.wants/xosan-alerts.timer"
    assert os.path.islink(wants) and os.readlink(wants) == "../xosan-alerts.timer"
    assert os.path.isfile(os.path.join(os.path.dirname(wants), os.readlink(wants)))
    with open(installed_root + UNITS + "/xosan-alerts.service") as fh:
        service = fh.read()
    [exec_start] = [line.split("=", 1)[1] for line in service.splitlines() if line.startswith("ExecStart=")]
    python, dash_m, module = exec_start.split()
    assert (python, dash_m) == ("/usr/bin/python3", "-m")
    assert os.path.isfile(installed_root + SITELIB + "/" + module.replace(".", "/") + ".py")
    with open(installed_root + UNITS + "/xosan-alerts.timer") as fh:
        timer = fh.read()
    assert "OnUnitActiveSec=1min" in timer and "WantedBy=timers.target" in timer


def test_installed_driver_answers_sr_get_driver_info(installed_root, packaged_dom0):
    # The xosan package dom0's Python finds is the packaged copy, not the repository's.
    where = packaged_dom0.run(["/usr/bin/python3", "-c", "import os, xosan; print(os.path.realpath(xosan.__file__))"])
    assert where.stdout.strip() == os.path.realpath(installed_root + SITELIB + "/xosan/__init__.py")
    request = xmlrpc.client.dumps(({"command": "sr_get_driver_info", "device_config": {}},),
                                  "sr_get_driver_info")
    res = packaged_dom0.run([SM_DIR + "/XOSANSR", request], check=False)
    assert res.returncode == 0, res.stderr
    values, _ = xmlrpc.client.loads(res.stdout)
    info = values[0]
    assert info["name"] == "XOSAN"
    assert info["driver_version"] == _version()
    assert info["required_api_version"] == "1.0"
    caps = set(info["capabilities"])
    for cap in ("SR_PROBE", "SR_UPDATE", "VDI_CREATE", "VDI_DELETE", "VDI_ATTACH", "VDI_DETACH",
                "VDI_CLONE", "VDI_SNAPSHOT", "VDI_RESIZE", "VDI_GENERATE_CONFIG", "ATOMIC_PAUSE"):
        assert cap in caps
    keys = {c["key"] for c in info["configuration"]}
    assert keys == {"server", "volume", "attach-timeout"}


def test_installed_command_runs(installed_root, tmp_path):
    env = dict(os.environ)
    for var in ("PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(var, None)
    env["PYTHONPATH"] = installed_root + SITELIB
    res = run([sys.executable, installed_root + "/usr/bin/xosan", "--version"], env=env,
              cwd=str(tmp_path), timeout=60)
    assert res.returncode == 0, res.stderr
    assert (res.stdout + res.stderr).strip() == "xosan %s" % _version()


def test_installed_host_plugin_answers_as_xapi_expects(packaged_dom0):
    # No xapi here: the calls that fail before asking it show the packaged plugin's dispatch.
    for fn, args, expected in (("nope", {}, ["UNKNOWN_XENAPI_PLUGIN_FUNCTION", "nope"]),
                               ("probe", {}, ["XENAPI_PLUGIN_FAILURE", "probe", "XosanError"])):
        request = xmlrpc.client.dumps(("OpaqueRef:session", args), fn)
        res = packaged_dom0.run([PLUGIN, request], check=False)
        assert res.returncode == 0, res.stderr
        (answer,), _ = xmlrpc.client.loads(res.stdout)
        assert answer["Status"] == "Failure"
        assert answer["ErrorDescription"][:len(expected)] == expected
