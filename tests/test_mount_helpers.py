from xosan.sr import mount, reachability, volume_sr


def test_proc_mounts_unescapes_spaces(tmp_path):
    f = tmp_path / "mounts"
    f.write_text("10.0.0.1:/xosan /var/run/sr-mount/a\\040b fuse.glusterfs rw 0 0\n")
    assert mount.mounts(str(f)) == [("10.0.0.1:/xosan", "/var/run/sr-mount/a b", "fuse.glusterfs", "rw")]


def test_mount_options():
    assert mount.mount_options(["a"]) == []
    assert mount.mount_options(["a", "b", "c"], readonly=True) == ["backup-volfile-servers=b:c", "ro"]


def test_server_lists_merge_in_order():
    assert volume_sr.merge_servers(["b", "a"], ["a", "c"], None) == ["b", "a", "c"]
    assert volume_sr.servers_from_sm_config({"xosan-servers": "x,y"}) == ["x", "y"]
    assert volume_sr.servers_from_sm_config({}) == []


def test_reachability_orders_answering_first():
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.2", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    try:
        up, down = reachability.order_by_reachability(["127.0.0.2", "127.0.0.1"], port=port, timeout=1)
        assert up == ["127.0.0.1"] and down == ["127.0.0.2"]
        assert not reachability.answers("127.0.0.1", dead_port, 1)
    finally:
        srv.close()
