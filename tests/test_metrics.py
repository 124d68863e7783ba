"""The node_exporter textfile (xosan/metrics.py): the host plugin's report as Prometheus gauges,
unknown facts left out (never a 0 that reads as "nothing to heal"), the file replaced whole."""

import os
import re

from xosan import metrics, plugin

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? -?[0-9]+$')


def _report():
    return {"host": {"name": "host1", "uuid": "h1"}, "heal": plugin.HEAL_SOURCE, "srs": [{
        "uuid": "u1", "name": 'XOSAN "lab"', "verdict": "degraded", "reason": "heal pending", "may_fail": 0,
        "heal_pending": 7, "split_brain": None, "capacity": {"total": 100, "free": 40},
        "hosts": [{"name": "host1", "uuid": "h1", "attached": True},
                  {"name": "host2", "uuid": "h2", "attached": False}],
        "bricks": [{"name": "10.0.0.11:/b", "arbiter": False, "online": True, "heal_pending": 7,
                    "size_total": 50, "size_free": 20},
                   {"name": "10.0.0.12:/b", "arbiter": False, "online": False, "heal_pending": None,
                    "size_total": None, "size_free": None},
                   {"name": "10.0.0.13:/b", "arbiter": True, "online": True, "heal_pending": 0,
                    "size_total": 5, "size_free": 4}]}]}


def _samples(text):
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_every_line_is_valid_exposition_text_with_help_and_type():
    text = metrics.render(_report(), "h1", now=1700000000)
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        assert SAMPLE.match(line), line
    names = sorted(set(line.split("{")[0].split(" ")[0] for line in _samples(text)))
    for name in names:
        assert "# TYPE %s gauge" % name in text and "# HELP %s " % name in text
    assert 'sr_name="XOSAN \\"lab\\""' in text  # quotes escaped


def test_the_verdict_is_one_hot_and_unknown_facts_are_left_out():
    text = metrics.render(_report(), "h1", now=1700000000)
    verdicts = [line for line in _samples(text) if line.startswith("xosan_sr_verdict")]
    assert len(verdicts) == 4 and sum(int(line.split()[-1]) for line in verdicts) == 1
    assert [line for line in verdicts if line.endswith(" 1")][0].count('verdict="degraded"') == 1
    assert 'xosan_sr_heal_pending{sr_name="XOSAN \\"lab\\"",sr_uuid="u1"} 7' in text
    assert "xosan_sr_split_brain" not in text  # unknown: not a 0
    assert 'xosan_brick_online{brick="10.0.0.12:/b",role="data",sr_name="XOSAN \\"lab\\"",sr_uuid="u1"} 0' in text
    assert not [line for line in _samples(text) if "10.0.0.12" in line and "heal_pending" in line]
    assert 'role="arbiter"' in text
    # only this host's PBD: every host writes its own file
    assert 'host="host1"' in text and 'host="host2"' not in text
    assert "xosan_report_timestamp_seconds 1700000000" in text


def test_an_unreachable_sr_still_says_unknown():
    report = {"srs": [{"uuid": "u2", "name": "X", "verdict": plugin.UNKNOWN, "hosts": [], "bricks": []}]}
    text = metrics.render(report, "h1", now=1)
    assert 'xosan_sr_verdict{sr_name="X",sr_uuid="u2",verdict="unknown"} 1' in text


def test_write_replaces_the_file_whole_and_creates_no_directory(tmp_path):
    assert metrics.write("a 1\n", str(tmp_path / "absent")) is None
    assert not (tmp_path / "absent").exists()
    path = metrics.write("xosan_x 1\n", str(tmp_path))
    assert path == str(tmp_path / "xosan.prom") and open(path).read() == "xosan_x 1\n"
    metrics.write("xosan_x 2\n", str(tmp_path))
    assert open(path).read() == "xosan_x 2\n"
    assert os.listdir(str(tmp_path)) == ["xosan.prom"]  # no temporary file left beside it
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)
