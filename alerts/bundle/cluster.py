"""Alerts of the cluster layer: corosync membership and quorum (`cluster_quorum`), Pacemaker
resources (`ha_resource`, the VMs a VirtualDomain resource manages named by `domain`) and
DRBD replication (`replication_lag`)."""

from __future__ import annotations

from bundle.model import HOST, Alert, Case, s

RESOURCE_DOMAIN = " * on (job, instance, resource) group_left (domain, agent) kvm_pacemaker_resource_info{$sel}"
RES = "{{ $labels.resource }}"
VMNOTE = '{{ if $labels.domain }} (VM {{ $labels.domain }}){{ end }}'
HAVM_INFO = {s("kvm_pacemaker_resource_info", 'resource="havm",agent="ocf:heartbeat:VirtualDomain",group="",'
               'clone="",domain="web-1"'): "1x90"}
PEER = 'resource="r0",peer_node_id="1",peer="hv2"'
DRBD = {"resource": "r0", "peer_node_id": "1", "peer": "hv2"}

QUORUM = [
    Alert(
        name="ClusterQuorumLost", layer="cluster", fault="cluster_quorum", severity="critical",
        expr="kvm_corosync_quorate{$sel} == 0",
        for_="1m", summary="A cluster node's partition has no quorum.",
        description=f"Corosync on {HOST} has no quorum: {{{{ $value }}}} (not quorate); Pacemaker stops or "
        "freezes its resources (no-quorum-policy).",
        impact="VMs managed by the cluster stop (policy stop) or cannot be recovered; a split cluster risks "
        "running a VM twice without fencing.",
        diagnosis=["`corosync-quorumtool -s` (expected vs total votes, members)", "`corosync-cfgtool -s` (links)",
                   "`crm_mon -1` on every node", "the network between the nodes (corosync's knet ports)"],
        mitigation=["Bring the missing nodes or links back; a node removed for good: take it out of the "
                    "nodelist and `corosync-cfgtool -R` on every node.",
                    "Only as a last resort and with fencing understood: `corosync-quorumtool -e N`."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_corosync_quorate"): "1 0x5"}, at="4m", labels={},
                 description="Corosync on hv1:9978 has no quorum: 0 (not quorate); Pacemaker stops or freezes "
                 "its resources (no-quorum-policy)."),
            Case(series={s("kvm_corosync_quorate"): "1x5"}, at="4m"),
        ]),
    Alert(
        name="ClusterNodeUnclean", layer="cluster", fault="cluster_quorum", severity="critical",
        expr='kvm_pacemaker_node_status{$sel,status="unclean"} == 1',
        for_="1m", summary="A cluster node is UNCLEAN (needs fencing).",
        description=f"Pacemaker on {HOST} sees node {{{{ $labels.node }}}} UNCLEAN: its resources cannot be "
        "recovered elsewhere until it is fenced.",
        impact="The VMs of that node stay down (or blocked) until fencing succeeds.",
        diagnosis=["`crm_mon -1 --include=fencing`", "`stonith_admin --history NODE`", "the fence device"],
        mitigation=["Fix the fence device or fence the node by hand (`stonith_admin --fence NODE`) once it is "
                    "known to be off."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_pacemaker_node_status", 'node="hv2",type="member",status="unclean"'): "0 1x5"},
                 at="4m", labels={"node": "hv2", "type": "member", "status": "unclean"},
                 description="Pacemaker on hv1:9978 sees node hv2 UNCLEAN: its resources cannot be recovered "
                 "elsewhere until it is fenced."),
            Case(series={s("kvm_pacemaker_node_status", 'node="hv2",type="member",status="unclean"'): "0x5"},
                 at="4m"),
        ]),
    Alert(
        name="ClusterLinkDown", layer="cluster", fault="cluster_quorum", severity="warning",
        expr="kvm_corosync_link_connected{$sel} == 0 or kvm_corosync_ring_faulty{$sel} == 1",
        for_="2m", summary="A corosync link or ring is down.",
        description=f"Corosync link {{{{ $labels.link }}}} on {HOST} is down (to node {{{{ $labels.node_id }}}}, "
        "or the ring is FAULTY): the cluster runs without that path.",
        impact="Cluster redundancy is reduced; losing the remaining links splits the cluster.",
        diagnosis=["`corosync-cfgtool -s`", "`corosync-cfgtool -n` (corosync 3)", "the interface and the switch "
                   "of that link"],
        mitigation=["Fix the link; corosync 2 rings marked FAULTY need `corosync-cfgtool -r` once repaired."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_corosync_link_connected", 'link="0",node_id="2"'): "1 0x5"}, at="4m",
                 labels={"link": "0", "node_id": "2"},
                 description="Corosync link 0 on hv1:9978 is down (to node 2, or the ring is FAULTY): the "
                 "cluster runs without that path."),
            Case(series={s("kvm_corosync_link_connected", 'link="0",node_id="2"'): "1x5"}, at="4m"),
        ]),
    Alert(
        name="ClusterStackDown", layer="cluster", fault="cluster_quorum", severity="critical",
        expr="kvm_pacemaker_up{$sel} == 0 or kvm_corosync_up{$sel} == 0",
        for_="3m", summary="The cluster stack does not answer on a node.",
        description=f"crm_mon or corosync-quorumtool on {HOST} has not answered for 3 minutes: the node is out "
        "of the cluster or its daemons are hung.",
        impact="The node's resources are not managed; the other nodes may fence it.",
        diagnosis=["`kvm_pacemaker_command_error` / `kvm_corosync_command_error` (exit_102: not connected)",
                   "`systemctl status corosync pacemaker`", "`crm_mon -1`"],
        mitigation=["Start or restart the cluster stack on the node (`pcs cluster start` / `crm cluster start`) "
                    "once the reason it stopped is understood."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_pacemaker_up"): "1 0x5", s("kvm_corosync_up"): "1x6"}, at="5m", labels={},
                 description="crm_mon or corosync-quorumtool on hv1:9978 has not answered for 3 minutes: the "
                 "node is out of the cluster or its daemons are hung."),
            Case(series={s("kvm_pacemaker_up"): "1x6", s("kvm_corosync_up"): "1x6"}, at="5m"),
        ]),
    Alert(
        name="ClusterStonithDisabled", layer="cluster", fault="cluster_quorum", severity="warning",
        expr="kvm_pacemaker_stonith_enabled{$sel} == 0 and on (job, instance) kvm_pacemaker_nodes_configured{$sel} > 1",
        for_="1h", summary="Fencing is disabled in a multi-node cluster.",
        description=f"The cluster seen from {HOST} has stonith-enabled=false: a lost node's VMs cannot be "
        "recovered safely.",
        impact="After a node failure Pacemaker either leaves its resources down or risks running a VM twice "
        "(disk corruption).",
        diagnosis=["`crm_attribute --type crm_config --name stonith-enabled --query`", "`stonith_admin --list-registered`"],
        mitigation=["Configure a fence device (IPMI, SBD, fence_virsh) and `crm_attribute --type crm_config "
                    "--name stonith-enabled --update true`."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_pacemaker_stonith_enabled"): "0x70", s("kvm_pacemaker_nodes_configured"): "2x70"},
                 at="65m", labels={},
                 description="The cluster seen from hv1:9978 has stonith-enabled=false: a lost node's VMs cannot "
                 "be recovered safely."),
            Case(series={s("kvm_pacemaker_stonith_enabled"): "0x70", s("kvm_pacemaker_nodes_configured"): "1x70"},
                 at="65m"),
        ]),
]

RESOURCES = [
    Alert(
        name="HaResourceFailed", layer="cluster", fault="ha_resource", severity="critical",
        expr='(kvm_pacemaker_resource_status{$sel,status=~"failed|blocked"} == 1)' + RESOURCE_DOMAIN,
        for_="1m", summary="A cluster resource is failed or blocked.",
        description=f"Cluster resource {RES}{VMNOTE} is {{{{ $labels.status }}}} on node {{{{ $labels.node }}}} "
        f"(seen from {HOST}).",
        impact="The resource (a VM, its address, its storage) is down or cannot be moved until a human acts.",
        diagnosis=["`crm_mon -1 --include=failures`", "`crm_resource --why --resource RESOURCE`",
                   "the resource agent's log: `journalctl -u pacemaker | grep RESOURCE`"],
        mitigation=["Fix the cause (a VM: its QEMU log and disks), then `crm_resource --cleanup --resource "
                    "RESOURCE`; a blocked resource (a failed stop) may need its node fenced."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_pacemaker_resource_status", 'resource="havm",node="hv1",status="failed"'): "0 1x5",
                         **HAVM_INFO},
                 at="4m", labels={"resource": "havm", "node": "hv1", "status": "failed", "domain": "web-1",
                                  "agent": "ocf:heartbeat:VirtualDomain"},
                 description="Cluster resource havm (VM web-1) is failed on node hv1 (seen from hv1:9978)."),
            Case(series={s("kvm_pacemaker_resource_status", 'resource="havm",node="hv1",status="failed"'): "0x5",
                         **HAVM_INFO}, at="4m"),
        ]),
    Alert(
        name="HaResourceFailures", layer="cluster", fault="ha_resource", severity="warning",
        expr="(kvm_pacemaker_resource_failures{$sel} > 0)" + RESOURCE_DOMAIN,
        for_="0m", summary="A cluster resource has failed on a node.",
        description=f"Cluster resource {RES}{VMNOTE} failed {{{{ $value }}}} time(s) on node {{{{ $labels.node }}}} "
        "since its last cleanup (seen from " + HOST + ").",
        impact="Pacemaker restarted it; at migration-threshold it moves away from the node for good.",
        diagnosis=["`crm_mon -1 --include=failcounts,failures`", "`crm_failcount --query --resource RESOURCE "
                   "--node NODE`", "why it failed: the failed action's exit reason, the agent's log"],
        mitigation=["Fix the cause, then `crm_resource --cleanup --resource RESOURCE --node NODE` to reset the "
                    "count."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_pacemaker_resource_failures", 'resource="havm",node="hv1"'): "0 1x5", **HAVM_INFO},
                 at="3m", labels={"resource": "havm", "node": "hv1", "domain": "web-1",
                                  "agent": "ocf:heartbeat:VirtualDomain"},
                 description="Cluster resource havm (VM web-1) failed 1 time(s) on node hv1 since its last cleanup "
                 "(seen from hv1:9978)."),
            Case(series={s("kvm_pacemaker_resource_failures", 'resource="havm",node="hv1"'): "0x5", **HAVM_INFO},
                 at="3m"),
        ]),
    Alert(
        name="HaResourceMigrationThresholdReached", layer="cluster", fault="ha_resource", severity="critical",
        expr="(kvm_pacemaker_resource_failures{$sel} >= on (job, instance, resource, node) "
        "kvm_pacemaker_migration_threshold{$sel})" + RESOURCE_DOMAIN,
        for_="0m", summary="A cluster resource reached its migration-threshold on a node.",
        description=f"Cluster resource {RES}{VMNOTE} failed {{{{ $value }}}} times on node {{{{ $labels.node }}}}, "
        f"its migration-threshold: it may not run there until cleanup (seen from {HOST}).",
        impact="The resource moved away (or is down if no other node can take it); a resource failing on every "
        "node fails over in a loop.",
        diagnosis=["`crm_mon -1 --include=failcounts,failures`", "`crm_resource --why --resource RESOURCE`"],
        mitigation=["Fix the cause on that node, then `crm_resource --cleanup --resource RESOURCE --node NODE`."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_pacemaker_resource_failures", 'resource="havm",node="hv1"'): "1 3x5",
                         s("kvm_pacemaker_migration_threshold", 'resource="havm",node="hv1"'): "3x6", **HAVM_INFO},
                 at="3m", labels={"resource": "havm", "node": "hv1", "domain": "web-1",
                                  "agent": "ocf:heartbeat:VirtualDomain"},
                 description="Cluster resource havm (VM web-1) failed 3 times on node hv1, its migration-threshold: "
                 "it may not run there until cleanup (seen from hv1:9978)."),
            Case(series={s("kvm_pacemaker_resource_failures", 'resource="havm",node="hv1"'): "2x5",
                         s("kvm_pacemaker_migration_threshold", 'resource="havm",node="hv1"'): "3x6", **HAVM_INFO},
                 at="3m"),
        ]),
    Alert(
        name="HaResourceBanLeftover", layer="cluster", fault="ha_resource", severity="warning",
        expr='kvm_pacemaker_location_constraint{$sel,kind=~"cli-ban|cli-prefer"}',
        for_="1h", summary="A ban or move constraint was left behind.",
        description=f"Constraint {{{{ $labels.constraint }}}} ({{{{ $labels.kind }}}} of {RES} on node "
        f"{{{{ $labels.node }}}}), left by crm_resource --ban/--move, has stayed for an hour (seen from {HOST}).",
        impact="The resource never returns to (or never leaves) that node, even after the reason is gone; "
        "a VM can stay down for good.",
        diagnosis=["`crm_resource --constraints --resource RESOURCE`", "`cibadmin --query --scope constraints`"],
        mitigation=["`crm_resource --clear --resource RESOURCE` once the move is over (or give --ban/--move a "
                    "`--lifetime`)."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_pacemaker_location_constraint", 'constraint="cli-ban-havm-on-hv1",resource="havm",'
                           'node="hv1",role="Started",kind="cli-ban"'): "-1000000x70"},
                 at="65m", labels={"constraint": "cli-ban-havm-on-hv1", "resource": "havm", "node": "hv1",
                                   "role": "Started", "kind": "cli-ban"},
                 description="Constraint cli-ban-havm-on-hv1 (cli-ban of havm on node hv1), left by crm_resource "
                 "--ban/--move, has stayed for an hour (seen from hv1:9978)."),
            Case(series={s("kvm_pacemaker_location_constraint", 'constraint="prefer-hv1",resource="havm",'
                           'node="hv1",role="",kind="user"'): "100x70"}, at="65m"),
        ]),
    Alert(
        name="ClusterMaintenanceMode", layer="cluster", fault="ha_resource", severity="info",
        expr="kvm_pacemaker_maintenance_mode{$sel} == 1",
        for_="1h", summary="The cluster has been in maintenance mode for an hour.",
        description=f"The cluster seen from {HOST} has been in maintenance mode for an hour: nothing is "
        "monitored, recovered or moved.",
        impact="A VM that fails now stays down; maintenance left on is the usual reason.",
        diagnosis=["`crm_attribute --type crm_config --name maintenance-mode --query`"],
        mitigation=["`crm_attribute --type crm_config --name maintenance-mode --update false` when the work "
                    "is done (check `crm_mon -1` first: resources are re-probed)."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_pacemaker_maintenance_mode"): "1x70"}, at="65m", labels={},
                 description="The cluster seen from hv1:9978 has been in maintenance mode for an hour: nothing is "
                 "monitored, recovered or moved."),
            Case(series={s("kvm_pacemaker_maintenance_mode"): "1x30 0x40"}, at="65m"),
        ]),
]

REPLICATION = [
    Alert(
        name="DrbdDisconnected", layer="cluster", fault="replication_lag", severity="critical",
        expr='kvm_drbd_connection_state{$sel,state!="Connected"} == 1',
        for_="2m", summary="A DRBD resource is not connected to its peer.",
        description=f"DRBD resource {RES} on {HOST} is {{{{ $labels.state }}}} towards peer {{{{ $labels.peer }}}}: "
        "writes are not replicated.",
        impact="The VMs on the resource have no second copy; a failure of this node loses their recent writes, "
        "and StandAlone after a split-brain needs a human.",
        diagnosis=["`drbdadm status RESOURCE`", "`drbdsetup events2 --now --statistics RESOURCE`",
                   "the replication network (the resource's port)", "`journalctl -k | grep drbd`"],
        mitigation=["Fix the network and `drbdadm connect RESOURCE`; after a split-brain choose the victim and "
                    "`drbdadm connect --discard-my-data RESOURCE` there."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_drbd_connection_state", f'{PEER},state="StandAlone"'): "_ 1x5"}, at="4m",
                 labels={**DRBD, "state": "StandAlone"},
                 description="DRBD resource r0 on hv1:9978 is StandAlone towards peer hv2: writes are not "
                 "replicated."),
            Case(series={s("kvm_drbd_connection_state", f'{PEER},state="Connected"'): "1x5"}, at="4m"),
        ]),
    Alert(
        name="DrbdSplitBrain", layer="cluster", fault="replication_lag", severity="critical",
        expr="kvm_drbd_split_brain{$sel} == 1",
        for_="0m", summary="DRBD detected a split-brain.",
        description=f"DRBD's split-brain handler reported volume {{{{ $labels.volume }}}} of resource {RES} on "
        f"{HOST} split: both sides took writes while apart.",
        impact="The two copies differ; one side's writes will be thrown away when it reconnects.",
        diagnosis=["`drbdadm status RESOURCE`", "`journalctl -k | grep -i split-brain`",
                   "which side has the writes that matter (the VM's last activity)"],
        mitigation=["Pick the victim, `drbdadm secondary RESOURCE` and `drbdadm connect --discard-my-data "
                    "RESOURCE` there, `drbdadm connect RESOURCE` on the survivor; then remove the marker file."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_drbd_split_brain", 'resource="r0",volume="0"'): "0 1x3"}, at="2m",
                 labels={"resource": "r0", "volume": "0"},
                 description="DRBD's split-brain handler reported volume 0 of resource r0 on hv1:9978 split: both "
                 "sides took writes while apart."),
            Case(series={s("kvm_drbd_split_brain", 'resource="r0",volume="0"'): "0x3"}, at="2m"),
        ]),
    Alert(
        name="DrbdOutOfSync", layer="cluster", fault="replication_lag", severity="warning",
        expr="kvm_drbd_peer_device_out_of_sync_bytes{$sel} > 0",
        for_="15m", summary="A DRBD volume has stayed out of sync.",
        description=f"Volume {{{{ $labels.volume }}}} of DRBD resource {RES} on {HOST} has had "
        "{{ $value | humanize1024 }}B out of sync with peer {{ $labels.peer }} for 15 minutes.",
        impact="The peer's copy is behind: a failover now loses data or cannot promote it.",
        diagnosis=["`drbdsetup status --verbose --statistics RESOURCE` (resync progress, rate)",
                   "the replication link's bandwidth and the resync rate settings (`c-max-rate`)"],
        mitigation=["Let the resync finish (raise `c-max-rate` if the link allows); a resync that does not "
                    "start: `drbdadm disconnect` / `connect`, or `drbdadm verify` to find the blocks."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_drbd_peer_device_out_of_sync_bytes", f'{PEER},volume="0"'): "0 2560000x20"},
                 at="18m", labels={**DRBD, "volume": "0"},
                 description="Volume 0 of DRBD resource r0 on hv1:9978 has had 2.441MiB out of sync with peer hv2 "
                 "for 15 minutes."),
            Case(series={s("kvm_drbd_peer_device_out_of_sync_bytes", f'{PEER},volume="0"'): "2560000x10 0x10"},
                 at="18m"),
        ]),
    Alert(
        name="DrbdReplicationBehind", layer="cluster", fault="replication_lag", severity="warning",
        expr="kvm_drbd_connection_ap_in_flight_bytes{$sel} > $drbd_in_flight_bytes"
        " or kvm_drbd_connection_congested{$sel} == 1",
        for_="5m", summary="DRBD replication is falling behind the VMs' writes.",
        description=f"DRBD resource {RES} on {HOST} has had {{{{ $value | humanize1024 }}}} of VM writes in flight "
        "to peer {{ $labels.peer }} (or the connection congested) for 5 minutes.",
        impact="Writes wait for the peer (protocol C: the VMs slow down) or the peer falls behind (protocol A).",
        diagnosis=["`drbdsetup status --verbose --statistics RESOURCE` (ap-in-flight, pending, unacked)",
                   "the replication link's latency and bandwidth", "the peer's disk latency"],
        mitigation=["Relieve the link or the peer's disk; tune `max-buffers`, `sndbuf-size`, or move the "
                    "noisiest VM."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_drbd_connection_ap_in_flight_bytes", PEER): "0 33554432x8",
                         s("kvm_drbd_connection_congested", PEER): "0x9"},
                 at="7m", labels=DRBD,
                 description="DRBD resource r0 on hv1:9978 has had 32Mi of VM writes in flight to peer hv2 (or "
                 "the connection congested) for 5 minutes."),
            Case(series={s("kvm_drbd_connection_ap_in_flight_bytes", PEER): "1048576x8",
                         s("kvm_drbd_connection_congested", PEER): "0x9"}, at="7m"),
        ]),
]

ALERTS = [*QUORUM, *RESOURCES, *REPLICATION]
