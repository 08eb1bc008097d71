"""The Open vSwitch collector (fault vswitch_down): bridges, ports and interfaces with
their link and admin state and link resets, from `ovs-vsctl --format=json` run in the
background on its own interval with a timeout (ovs-vsctl blocks while ovsdb-server hangs)."""

from __future__ import annotations

import time

from exporter.collector import register
from exporter.collectors.ovs.vsctl import OvsState, parse_vsctl, vsctl_arguments
from exporter.commands import CommandError, parse_off_loop
from exporter.metrics import Family, counter, gauge
from exporter.options import Option, duration
from exporter.poller import Poller, first_wait
from exporter.settings import Settings
from exporter.shared import Shared

OVS_STATISTICS = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped",
                  "rx_errors", "tx_errors")


def ovs_families(state: OvsState) -> list[Family]:
    ports = gauge("ovs_bridge_ports", "Ports of the Open vSwitch bridge.", ["bridge"])
    info = gauge("ovs_bridge_info", "An Open vSwitch bridge and its datapath type.",
                 ["bridge", "datapath_type"])
    for bridge in state.bridges:
        ports.add((bridge.name,), len(bridge.ports))
        info.add((bridge.name, bridge.datapath_type), 1)
    labels = ["bridge", "port", "interface"]
    iface = gauge("ovs_interface_info", "An Open vSwitch interface and its type (system, internal, "
                  "patch, vxlan, dpdk, ...).", [*labels, "type"])
    link = gauge("ovs_interface_link_up", "Whether the interface's link_state is up (1) or not (0).", labels)
    admin = gauge("ovs_interface_admin_up", "Whether the interface's admin_state is up (1) or not (0).",
                  labels)
    resets = counter("ovs_interface_link_resets", "Times Open vSwitch saw the interface's link "
                     "state change.", labels)
    stats = {name: counter(f"ovs_interface_{name}", f"Open vSwitch interface statistic {name}.", labels)
             for name in OVS_STATISTICS}
    for interface in state.interfaces:
        key = (interface.bridge, interface.port, interface.name)
        iface.add((*key, interface.type), 1)
        if interface.link_state:
            link.add(key, 1 if interface.link_state == "up" else 0)
        if interface.admin_state:
            admin.add(key, 1 if interface.admin_state == "up" else 0)
        if interface.link_resets is not None:
            resets.add(key, interface.link_resets)
        for name, family in stats.items():
            if name in interface.statistics:
                family.add(key, interface.statistics[name])
    return [ports, info, iface, link, admin, resets, *stats.values()]


class OvsCollector:
    name = "ovs"

    def __init__(self, settings: Settings) -> None:
        db = [f"--db={DB.of(settings)}"] if DB.of(settings) else []
        self._timeout = TIMEOUT.of(settings)
        vsctl_timeout = max(1, int(self._timeout))
        self._argv = [VSCTL.of(settings), *db, f"--timeout={vsctl_timeout}", *vsctl_arguments()]
        self.state: OvsState | None = None
        self.error = ""
        self.last_success = 0.0
        self.background = Poller("ovs-vsctl", self.poll, INTERVAL.of(settings),
                                 first_wait(settings.collector_timeout))

    async def poll(self) -> None:
        try:
            output = await self.background.output(self._argv, self._timeout)
            self.state = await parse_off_loop(parse_vsctl, output)
        except CommandError as exc:
            self.error = str(exc)
        except ValueError:
            self.background.failed("garbage")
            self.error = "garbage"
        else:
            self.error, self.last_success = "", time.time()

    async def collect(self) -> list[Family]:
        await self.background.first_round()
        up = gauge("ovs_up", "Whether the last ovs-vsctl run answered (1) or not (0); the series "
                   "below keep the last answer.")
        up.add((), 0 if self.error else 1)
        error = gauge("ovs_error", "Why the last ovs-vsctl run failed: exec_failed, timeout, exit_N, "
                      "garbage.", ["reason"])
        if self.error:
            error.add((self.error,), 1)
        success = gauge("ovs_last_success_timestamp_seconds", "When ovs-vsctl last answered.")
        success.add((), self.last_success)
        families = [up, error, success, *self.background.families()]
        if self.state is not None:
            families += ovs_families(self.state)
        return families

    async def close(self) -> None:
        await self.background.stop()


VSCTL = Option("ovs-vsctl.path", "ovs-vsctl", "ovs-vsctl to run.")
DB = Option("ovs.db", "", "OVSDB to ask, e.g. unix:/run/openvswitch/db.sock (default: ovs-vsctl's own).")
INTERVAL = Option("ovs.interval", 30.0, "How often ovs-vsctl runs, in the background.", parse=duration,
                  shown="30s")
TIMEOUT = Option("ovs.timeout", 10.0, "Time one ovs-vsctl run may take before it is killed.",
                 parse=duration, shown="10s")


@register("ovs", default_enabled=False, options=[VSCTL, DB, INTERVAL, TIMEOUT],
          description="Open vSwitch bridges, ports and interfaces via ovs-vsctl, in the background")
def create(settings: Settings, _shared: Shared) -> OvsCollector:
    return OvsCollector(settings)
