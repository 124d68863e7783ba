"""The GlusterFS adapter: the only part of XOSAN that speaks glusterd's language.

``quorum`` is the one model of client and server quorum (planner and health use it);
``cli`` runs the gluster CLI (here, with ``--remote-host``, or in a storage VM over
``ssh``) and waits for cluster states; ``parse`` reads its ``--xml`` answers;
``health`` turns them into verdicts; ``options`` is the option set of a VM-image
volume. Callers import the names below, not the modules' insides.
"""

from xosan.errors import ClusterWaitTimeout, LinkLost  # noqa: F401,E402  (raised by the CLI and its waits)
from xosan.gluster.cli import (  # noqa: F401
                               BRICKS_TIMEOUT,
                               GLUSTERD_TIMEOUT,
                               MIN_ASK,
                               PEER_TIMEOUT,
                               REMOTE_TIMEOUT,
                               GlusterCLI,
                               bricks_offline,
                               describe_lag,
                               peer_lag,
                               poll_until,
                               remote_cli,
                               wait_for_bricks,
                               wait_for_glusterd,
                               wait_for_peers,
)
from xosan.gluster.parse import (  # noqa: F401
                               PEER_IN_CLUSTER,
                               Brick,
                               BrickClients,
                               BrickStatus,
                               HealEntry,
                               OptionValue,
                               Peer,
                               RebalanceNode,
                               RebalanceStatus,
                               VolumeInfo,
                               parse_cli_output,
                               parse_heal_info,
                               parse_peer_status,
                               parse_pool_list,
                               parse_rebalance_status,
                               parse_volume_clients,
                               parse_volume_get,
                               parse_volume_info,
                               parse_volume_list,
                               parse_volume_status,
)
