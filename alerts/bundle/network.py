"""Alerts of the network layer: one or more per fault id of that layer (alerts/taxonomy.yml)."""

from __future__ import annotations

from bundle.model import HOST, VM, Alert, Case, s

ALERTS: list[Alert] = [
    Alert(
        name="BridgeUplinkDown", layer="network", fault="vswitch_down", severity="critical",
        expr="kvm_bridge_uplink_up{$sel} == 0 and on (job, instance, bridge) kvm_bridge_ports{$sel} > 0",
        for_="2m", summary="A bridge lost all its uplinks.",
        description=f"Bridge {{{{ $labels.bridge }}}} on {HOST} has no uplink port up: its VMs are cut off from the network.",
        impact="Every VM plugged into the bridge loses connectivity outside the host.",
        diagnosis=["`ip -d link show master BRIDGE`", "`bridge link`", "`ethtool UPLINK`",
         "`kvm_domain_interface_bridge_info{bridge=\"BRIDGE\"}` lists the VMs"],
        mitigation=["Bring the uplink back (cable, switch port, `ip link set UPLINK up`).",
         "Live-migrate critical VMs to a host with working networking."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_bridge_uplink_up", 'bridge="br0"'): "0x5", s("kvm_bridge_ports", 'bridge="br0"'): "3x5"},
                 at="4m", labels={"bridge": "br0"},
                 description="Bridge br0 on hv1:9978 has no uplink port up: its VMs are cut off from the network."),
            Case(series={s("kvm_bridge_uplink_up", 'bridge="br0"'): "1x5", s("kvm_bridge_ports", 'bridge="br0"'): "3x5"},
                 at="4m"),
        ]),
    Alert(
        name="VmNetworkCutOff", layer="network", fault="vswitch_down", severity="critical",
        expr="kvm_domain_interface_bridge_info{$sel}"
        " * on (job, instance, bridge) group_left () (kvm_bridge_uplink_up{$sel} == 0)",
        for_="2m", summary="A VM's bridge has no uplink.",
        description=f"VM {VM} on {HOST} is plugged into bridge {{{{ $labels.bridge }}}} ({{{{ $labels.target }}}}), "
        "which has no uplink up.",
        impact="The VM cannot reach anything outside the host.",
        diagnosis=["`virsh domiflist DOMAIN`", "`ip -d link show master BRIDGE`"],
        mitigation=["Fix the bridge uplink (see BridgeUplinkDown) or migrate the VM."],
        dashboard="KVM VM", cases=[
            Case(series={s("kvm_domain_interface_bridge_info", 'domain="web-1",target="vnet0",bridge="br0"'): "1x5",
                  s("kvm_bridge_uplink_up", 'bridge="br0"'): "0x5"}, at="4m",
                 labels={"domain": "web-1", "target": "vnet0", "bridge": "br0"},
                 description="VM web-1 on hv1:9978 is plugged into bridge br0 (vnet0), which has no uplink up."),
            Case(series={s("kvm_domain_interface_bridge_info", 'domain="web-1",target="vnet0",bridge="br0"'): "1x5",
                  s("kvm_bridge_uplink_up", 'bridge="br0"'): "1x5"}, at="4m"),
        ]),
    Alert(
        name="BondDegraded", layer="network", fault="vswitch_down", severity="warning",
        expr="kvm_bond_active_slaves{$sel} < on (job, instance, bond) kvm_bond_slaves{$sel}"
        " and on (job, instance, bond) kvm_bond_active_slaves{$sel} > 0",
        for_="5m", summary="A bond lost redundancy.",
        description=f"Bond {{{{ $labels.bond }}}} on {HOST} has {{{{ $value }}}} of its slaves up: redundancy is lost.",
        impact="One more link failure takes the bond (and its bridges and VMs) down.",
        diagnosis=["`cat /proc/net/bonding/BOND`", "`ethtool SLAVE`"],
        mitigation=["Fix the failed slave link (cable, switch port, NIC)."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_bond_active_slaves", 'bond="bond0"'): "1x10", s("kvm_bond_slaves", 'bond="bond0"'): "2x10"},
                 at="8m", labels={"bond": "bond0"}, description="Bond bond0 on hv1:9978 has 1 of its slaves up: redundancy is lost."),
            Case(series={s("kvm_bond_active_slaves", 'bond="bond0"'): "2x10", s("kvm_bond_slaves", 'bond="bond0"'): "2x10"},
                 at="8m"),
        ]),
    Alert(
        name="BondDown", layer="network", fault="vswitch_down", severity="critical",
        expr="kvm_bond_active_slaves{$sel} == 0 and on (job, instance, bond) kvm_bond_slaves{$sel} > 0",
        for_="1m", summary="A bond has no slave up.",
        description=f"Bond {{{{ $labels.bond }}}} on {HOST} has no slave with MII status up.",
        impact="Everything behind the bond is offline.",
        diagnosis=["`cat /proc/net/bonding/BOND`"], mitigation=["Restore at least one slave link."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_bond_active_slaves", 'bond="bond0"'): "0x5", s("kvm_bond_slaves", 'bond="bond0"'): "2x5"},
                 at="3m", labels={"bond": "bond0"}, description="Bond bond0 on hv1:9978 has no slave with MII status up."),
            Case(series={s("kvm_bond_active_slaves", 'bond="bond0"'): "0x5", s("kvm_bond_slaves", 'bond="bond0"'): "0x5"},
                 at="3m"),
        ]),
    Alert(
        name="OvsInterfaceDown", layer="network", fault="vswitch_down", severity="warning",
        expr="kvm_ovs_interface_link_up{$sel} == 0 and on (job, instance, bridge, port, interface)"
        " kvm_ovs_interface_admin_up{$sel} == 1",
        for_="2m", summary="An Open vSwitch interface lost its link.",
        description=f"OVS interface {{{{ $labels.interface }}}} on bridge {{{{ $labels.bridge }}}} of {HOST} is "
        "administratively up but its link is down.",
        impact="Traffic through that port stops; if it is an uplink, the bridge's VMs are cut off.",
        diagnosis=["`ovs-vsctl list Interface NAME`", "`ovs-ofctl show BRIDGE`"],
        mitigation=["Restore the link; check the physical port or the peer (VM, patch, tunnel)."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_ovs_interface_link_up", 'bridge="ovsbr0",port="eth1",interface="eth1"'): "0x5",
                  s("kvm_ovs_interface_admin_up", 'bridge="ovsbr0",port="eth1",interface="eth1"'): "1x5"}, at="4m",
                 labels={"bridge": "ovsbr0", "port": "eth1", "interface": "eth1"},
                 description="OVS interface eth1 on bridge ovsbr0 of hv1:9978 is administratively up but its link is down."),
            Case(series={s("kvm_ovs_interface_link_up", 'bridge="ovsbr0",port="eth1",interface="eth1"'): "0x5",
                  s("kvm_ovs_interface_admin_up", 'bridge="ovsbr0",port="eth1",interface="eth1"'): "0x5"}, at="4m"),
        ]),
    Alert(
        name="NetworkLinkFlapping", layer="network", fault="vswitch_down", severity="warning",
        expr='increase(kvm_network_carrier_changes_total{$sel}[15m]) > $link_flaps_per_15m'
        ' and on (job, instance, device) kvm_network_info{$sel,kind=~"physical|bond|vlan"}',
        for_="0m", summary="A network link is flapping.",
        description=f"Link {{{{ $labels.device }}}} on {HOST} changed carrier {{{{ $value }}}} times in 15 minutes.",
        impact="Flapping links drop packets and can trigger bond failovers and STP recalculation.",
        diagnosis=["`ip -s link show DEVICE`", "`ethtool DEVICE`", "`journalctl -k | grep DEVICE`"],
        mitigation=["Check cable, transceiver and switch port; disable the port if it keeps flapping."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_network_carrier_changes_total", 'device="eth0"'): "0+2x20",
                  s("kvm_network_info", 'device="eth0",kind="physical",master="",address="x",operstate="up"'): "1x20"},
                 at="15m", labels={"device": "eth0"}, description="Link eth0 on hv1:9978 changed carrier 30 times in 15 minutes."),
            Case(series={s("kvm_network_carrier_changes_total", 'device="tap0"'): "0+2x20",
                  s("kvm_network_info", 'device="tap0",kind="tap",master="br0",address="x",operstate="up"'): "1x20"},
                 at="15m"),
        ]),
    Alert(
        name="RoutingLoopSuspected", layer="network", fault="routing_loop", severity="warning",
        expr="instance:kvm_netstat_icmp_time_excds:rate5m > $routing_loop_time_exceeded_per_second",
        for_="5m", summary="ICMP time-exceeded traffic points at a routing loop.",
        description=f"{HOST} sends and receives {{{{ $value | humanize }}}} ICMP time-exceeded messages per second: "
        "packets are probably looping.",
        impact="Looping packets burn bandwidth and CPU until their TTL runs out; the destinations are unreachable.",
        diagnosis=["`ip route get DEST` on each router", "`traceroute -n DEST` (the hops repeat)", "`nstat -az | grep TimeExcds`"],
        mitigation=["Fix the route that points back (policy routing, a stale static route, a VRRP split)."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_netstat_icmp_in_time_excds_total"): "0+300x20", s("kvm_netstat_icmp_out_time_excds_total"): "0x20"},
                 at="15m", labels={}, description="hv1:9978 sends and receives 5 ICMP time-exceeded messages per second: packets are "
                 "probably looping."),
            Case(series={s("kvm_netstat_icmp_in_time_excds_total"): "0+6x20", s("kvm_netstat_icmp_out_time_excds_total"): "0x20"},
                 at="15m"),
        ]),
    Alert(
        name="TrafficStorm", layer="network", fault="traffic_storm", severity="warning",
        expr="instance_device:kvm_network_receive_packets:rate5m > $storm_packets_per_second_floor"
        " and instance_device:kvm_network_receive_packets:rate5m"
        " > $storm_baseline_factor * (instance_device:kvm_network_receive_packets:rate5m_avg1w"
        " or instance_device:kvm_network_receive_packets:rate5m * 0)",
        for_="5m", summary="Packet rate far above its usual level.",
        description=f"{{{{ $labels.device }}}} on {HOST} receives {{{{ $value | humanize }}}} packets/s, far above its "
        "weekly average: a broadcast/multicast storm or a flood.",
        impact="Bridges, softirqs and VMs drown in packets; legitimate traffic is dropped.",
        diagnosis=["`ip -s link show DEVICE`", "`tcpdump -c 100 -eni DEVICE` (source MACs, ether types)",
         "`bridge fdb show br BRIDGE` (flapping MACs: a loop)"],
        mitigation=["Find the source (a VM, a looped switch port); shut its port or the VM's vNIC "
         "(`virsh domif-setlink DOMAIN VNIC down`).", "Enable STP / storm control on the switch."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_network_receive_packets_total", 'device="eth0"'): "0+6000000x20"}, at="15m",
                 labels={"device": "eth0"},
                 description="eth0 on hv1:9978 receives 100k packets/s, far above its weekly average: a broadcast/multicast "
                 "storm or a flood."),
            Case(series={s("kvm_network_receive_packets_total", 'device="eth0"'): "0+60000x20"}, at="15m"),
        ]),
    Alert(
        name="SoftnetDrops", layer="network", fault="traffic_storm", severity="warning",
        expr="sum by (job, instance) (rate(kvm_softnet_dropped_total{$sel}[5m])) > $softnet_drops_per_second",
        for_="5m", summary="The kernel drops packets for lack of CPU backlog.",
        description=f"{HOST} drops {{{{ $value | humanize }}}} packets/s because CPU backlogs are full.",
        impact="Packets are lost before any VM or firewall sees them: more than the host can process arrives.",
        diagnosis=["`cat /proc/net/softnet_stat`", "`sysctl net.core.netdev_max_backlog`"],
        mitigation=["Find the flood (TrafficStorm); raise `net.core.netdev_max_backlog`, spread IRQs (RPS/RSS)."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_softnet_dropped_total", 'cpu="0"'): "0+600x20"}, at="15m", labels={},
                 description="hv1:9978 drops 10 packets/s because CPU backlogs are full."),
            Case(series={s("kvm_softnet_dropped_total", 'cpu="0"'): "5x20"}, at="15m"),
        ]),
    Alert(
        name="ConntrackTableFilling", layer="network", fault="traffic_storm", severity="warning",
        expr="kvm_nf_conntrack_entries{$sel} / on (job, instance) kvm_nf_conntrack_entries_limit{$sel}"
        " > $conntrack_fill_ratio",
        for_="5m", summary="The conntrack table is nearly full.",
        description=f"The conntrack table on {HOST} is {{{{ $value | humanizePercentage }}}} full.",
        impact="When it is full new connections are dropped (\"nf_conntrack: table full, dropping packet\").",
        diagnosis=["`conntrack -C`", "`sysctl net.netfilter.nf_conntrack_max`", "`conntrack -L | awk '{print $5}' | sort | uniq -c`"],
        mitigation=["Find the flood; raise `nf_conntrack_max` if the load is legitimate."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_nf_conntrack_entries"): "95x10", s("kvm_nf_conntrack_entries_limit"): "100x10"}, at="8m", labels={},
                 description="The conntrack table on hv1:9978 is 95% full."),
            Case(series={s("kvm_nf_conntrack_entries"): "50x10", s("kvm_nf_conntrack_entries_limit"): "100x10"}, at="8m"),
        ]),
    Alert(
        name="NetworkInterfaceErrors", layer="network", fault="vswitch_down", severity="warning",
        expr="instance_device:kvm_network_errors:rate5m > $nic_errors_per_second"
        ' and on (job, instance, device) kvm_network_info{$sel,kind=~"physical|bond|vlan"}',
        for_="10m", summary="A network interface receives or sends with errors.",
        description=f"Interface {{{{ $labels.device }}}} on {HOST} has {{{{ $value | humanize }}}} receive and transmit "
        "errors per second.",
        impact="Frames are lost to CRC, alignment or FIFO errors: a bad cable, transceiver or switch port. "
        "VM traffic through it retransmits and slows; a bond may flap.",
        diagnosis=["`ip -s -s link show DEVICE` (which error kind)", "`ethtool -S DEVICE` (crc, fifo, missed)",
         "`ethtool -m DEVICE` (optical levels), the switch port's counters"],
        mitigation=["Replace the cable or transceiver, or move to another switch port.",
         "Until then, take the port out of its bond (`ip link set DEVICE nomaster`) if the others carry the load."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_network_receive_errs_total", 'device="eth0"'): "0+600x20",
                         s("kvm_network_transmit_errs_total", 'device="eth0"'): "0x20",
                         s("kvm_network_info", 'device="eth0",kind="physical",master="",address="x",operstate="up"'): "1x20"},
                 at="18m", labels={"device": "eth0"},
                 description="Interface eth0 on hv1:9978 has 10 receive and transmit errors per second."),
            Case(series={s("kvm_network_receive_errs_total", 'device="eth0"'): "0+6x20",
                         s("kvm_network_transmit_errs_total", 'device="eth0"'): "0x20",
                         s("kvm_network_info", 'device="eth0",kind="physical",master="",address="x",operstate="up"'): "1x20"},
                 at="18m"),
        ]),
    Alert(
        name="LibvirtNetworkInactive", layer="network", fault="vswitch_down", severity="critical",
        expr="kvm_libvirt_network_active{$sel} == 0 and on (job, instance, network) kvm_libvirt_network_autostart{$sel} == 1",
        for_="5m", summary="A libvirt virtual network that should run is down.",
        description=f"Virtual network {{{{ $labels.network }}}} on {HOST} is marked autostart but is not active.",
        impact="Its bridge, DHCP and DNS are gone: VMs attached to it lose their network, and VMs using it cannot start.",
        diagnosis=["`virsh net-list --all`, `virsh net-info NETWORK`", "`journalctl -u libvirtd` (dnsmasq failing, "
         "an address or bridge name already in use)", "which VMs use it: `kvm_domain_interface_info{source_network=\"NETWORK\"}`"],
        mitigation=["Start it: `virsh net-start NETWORK`; fix the conflict it reports first.",
         "VMs whose vNICs were attached while it was down may need their interface re-plugged (`virsh domif-setlink`)."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_libvirt_network_active", 'network="internal"'): "0x10",
                         s("kvm_libvirt_network_autostart", 'network="internal"'): "1x10"},
                 at="8m", labels={"network": "internal"},
                 description="Virtual network internal on hv1:9978 is marked autostart but is not active."),
            Case(series={s("kvm_libvirt_network_active", 'network="lab"'): "0x10",
                         s("kvm_libvirt_network_autostart", 'network="lab"'): "0x10"}, at="8m"),
        ]),
]

PROBE = 'target="hv2",kind="icmp"'
LOSS = "instance_target:kvm_probe_loss:ratio5m"
P95 = "instance_target:kvm_probe_rtt_seconds:p95_5m"


def rtt_buckets(fast: str, slow: str) -> dict[str, str]:
    """Cumulative RTT buckets of target hv2: `fast` answers under 10 ms, `slow` under 500 ms."""
    return {s("kvm_probe_rtt_seconds_bucket", f'{PROBE},le="0.01"'): fast,
            s("kvm_probe_rtt_seconds_bucket", f'{PROBE},le="0.5"'): slow,
            s("kvm_probe_rtt_seconds_bucket", f'{PROBE},le="+Inf"'): slow}


LATENCY = [
    Alert(
        name="NetworkProbeLossHigh", layer="network", fault="network_latency", severity="warning",
        expr=f"{LOSS}{{$sel}} > $probe_loss_ratio and {LOSS}{{$sel}} < 1",
        for_="1m", summary="Probes to a target are being lost.",
        description=f"{{{{ $value | humanizePercentage }}}} of the {{{{ $labels.kind }}}} probes from {HOST} to "
        "{{ $labels.target }} were lost over 5 minutes.",
        impact="Traffic to that peer, portal or gateway is being dropped: storage I/O stalls, live "
        "migrations slow down or fail.",
        diagnosis=["`ping -c 100 -i 0.2 TARGET` from the host", "`mtr -rwc 100 TARGET` (which hop drops)",
                   "`ip -s link` on the path's interfaces (errors, drops)", "the switch ports' counters"],
        mitigation=["Fix the dropping hop (a bad cable, an overloaded link, a policer); move storage or "
                    "migration traffic to a healthy path."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_probe_sent_total", PROBE): "0+60x15", s("kvm_probe_received_total", PROBE): "0+36x15"},
                 at="12m", labels={"target": "hv2", "kind": "icmp"},
                 description="40% of the icmp probes from hv1:9978 to hv2 were lost over 5 minutes."),
            Case(series={s("kvm_probe_sent_total", PROBE): "0+60x15", s("kvm_probe_received_total", PROBE): "0+59x15"},
                 at="12m"),
        ]),
    Alert(
        name="NetworkLatencyHigh", layer="network", fault="network_latency", severity="warning",
        expr=f"{P95}{{$sel}} > $probe_rtt_p95_seconds"
        f" and {P95}{{$sel}} > $probe_baseline_factor * ({P95}_avg1w{{$sel}} or {P95}{{$sel}} * 0)",
        for_="5m", summary="Round-trip time to a target surged.",
        description=f"The p95 round-trip time from {HOST} to {{{{ $labels.target }}}} is {{{{ $value | humanizeDuration }}}}, "
        "above the ceiling and far above its weekly level.",
        impact="Synchronous storage (iSCSI, DRBD protocol C) and live migration slow down with the path.",
        diagnosis=["`mtr -rwc 100 TARGET`", "the path's interface utilisation (the host dashboard's links)",
                   "`tc -s qdisc` on the path (queues, drops)"],
        mitigation=["Relieve or reroute the congested link; pause a bulk transfer (a backup, a migration)."],
        dashboard="KVM host", cases=[
            Case(series={**rtt_buckets("0+60x20", "0+60x20"), **{s("kvm_probe_rtt_seconds_bucket", f'{PROBE},le="0.01"'):
                                                                   "0+60x10 600+0x10"}},
                 at="18m", labels={"target": "hv2", "kind": "icmp"},
                 description="The p95 round-trip time from hv1:9978 to hv2 is 475.5ms, above the ceiling and far "
                 "above its weekly level."),
            Case(series=rtt_buckets("0+60x20", "0+60x20"), at="18m"),
        ]),
    Alert(
        name="NetworkProbeTargetUnreachable", layer="network", fault="network_latency", severity="critical",
        expr=f"{LOSS}{{$sel}} == 1",
        for_="2m", summary="A probe target answers no probe at all.",
        description=f"{{{{ $labels.target }}}} has answered none of the {{{{ $labels.kind }}}} probes from {HOST} "
        "for 5 minutes.",
        impact="The peer, storage portal or gateway is unreachable from this host: its iSCSI sessions, "
        "migrations or routed traffic are down.",
        diagnosis=["`ping TARGET` / `nc -zv HOST PORT`", "`ip route get ADDRESS`", "`ip neigh` (ARP/NDP "
                   "for the next hop)", "the link and the switch port"],
        mitigation=["Restore the path (link, route, VLAN, firewall) or the target itself."],
        dashboard="KVM host", cases=[
            Case(series={s("kvm_probe_sent_total", PROBE): "0+60x15", s("kvm_probe_received_total", PROBE): "0+60x5 300x10"},
                 at="14m", labels={"target": "hv2", "kind": "icmp"},
                 description="hv2 has answered none of the icmp probes from hv1:9978 for 5 minutes."),
            Case(series={s("kvm_probe_sent_total", PROBE): "0+60x15", s("kvm_probe_received_total", PROBE): "0+30x15"},
                 at="14m"),
        ]),
]
ALERTS += LATENCY
