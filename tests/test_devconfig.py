import pytest

from xosan.errors import InvalidValue, MissingKey
from xosan.sr import devconfig


def test_good_config_keeps_order_and_drops_duplicates():
    c = devconfig.parse({"server": " 10.0.0.1, node2.lan ,10.0.0.1,fd00::3", "volume": "xosan",
                         "attach-timeout": "30", "SRmaster": "true"})
    assert c.servers == ["10.0.0.1", "node2.lan", "fd00::3"]
    assert (c.volume, c.attach_timeout) == ("xosan", 30)


def test_defaults_and_probe_without_volume():
    c = devconfig.parse({"server": "10.0.0.1"}, require_volume=False)
    assert c.volume is None and c.attach_timeout == devconfig.DEFAULT_ATTACH_TIMEOUT


@pytest.mark.parametrize("dconf,exc,key", [
    ({}, MissingKey, "server"),
    ({"server": "  "}, MissingKey, "server"),
    ({"server": "10.0.0.1"}, MissingKey, "volume"),
    ({"server": "10.0.0.1:/xosan", "volume": "v"}, InvalidValue, "server"),
    ({"server": "1.2.3", "volume": "v"}, InvalidValue, "server"),
    ({"server": "-bad-", "volume": "v"}, InvalidValue, "server"),
    ({"server": "10.0.0.1", "volume": "a b"}, InvalidValue, "volume"),
    ({"server": "10.0.0.1", "volume": "v", "attach-timeout": "0"}, InvalidValue, "attach-timeout"),
    ({"server": "10.0.0.1", "volume": "v", "attach-timeout": "9999"}, InvalidValue, "attach-timeout"),
])
def test_errors_name_the_key_and_give_an_example(dconf, exc, key):
    with pytest.raises(exc) as err:
        devconfig.parse(dconf)
    assert err.value.key == key
    assert "device-config:%s" % key in str(err.value) and "e.g." in str(err.value)


def test_every_key_is_documented_for_xencenter():
    for key, text in devconfig.CONFIGURATION:
        assert key in devconfig.KNOWN_KEYS and len(text) > 40
