"""The EDAC collector (fault memory_ecc): correctable and uncorrectable memory errors per
controller, csrow/channel and DIMM."""

from __future__ import annotations

from exporter.collector import SysfsCollector, register
from exporter.collectors.edac.reader import Controller, read_edac
from exporter.metrics import Family, counter, gauge
from exporter.settings import Settings
from exporter.shared import Shared


def _pair(scope: str, labels: list[str]) -> tuple[Family, Family]:
    return (
        counter(f"edac_{scope}correctable_errors", f"Correctable memory errors (ECC fixed them) "
                f"counted by the {scope.rstrip('_') or 'memory controller'}.", labels),
        counter(f"edac_{scope}uncorrectable_errors", f"Uncorrectable memory errors counted by the "
                f"{scope.rstrip('_') or 'memory controller'}.", labels),
    )


def edac_families(controllers: list[Controller]) -> list[Family]:
    mc_ce, mc_ue = _pair("", ["controller"])
    noinfo_ce, noinfo_ue = _pair("noinfo_", ["controller"])
    row_ce, row_ue = _pair("csrow_", ["controller", "csrow"])
    ch_ce, ch_ue = _pair("channel_", ["controller", "csrow", "channel"])
    dimm_ce, dimm_ue = _pair("dimm_", ["controller", "dimm"])
    info = gauge("edac_controller_info", "The memory controller's driver name.", ["controller", "name"])
    ch_info = gauge("edac_channel_info", "The DIMM label of a csrow channel.",
                    ["controller", "csrow", "channel", "dimm_label"])
    dimm_info = gauge("edac_dimm_info", "Label, location, memory type and size of a DIMM.",
                      ["controller", "dimm", "label", "location", "mem_type"])
    dimm_size = gauge("edac_dimm_size_bytes", "Size of the DIMM, in bytes.", ["controller", "dimm"])

    def add(family: Family, labels: tuple[str, ...], value: int | None) -> None:
        if value is not None:
            family.add(labels, value)

    for mc in controllers:
        key = (mc.controller,)
        info.add((mc.controller, mc.name), 1)
        add(mc_ce, key, mc.ce)
        add(mc_ue, key, mc.ue)
        add(noinfo_ce, key, mc.ce_noinfo)
        add(noinfo_ue, key, mc.ue_noinfo)
        for row in mc.csrows:
            add(row_ce, (mc.controller, row.csrow), row.ce)
            add(row_ue, (mc.controller, row.csrow), row.ue)
        for ch in mc.channels:
            ch_key = (mc.controller, ch.csrow, ch.channel)
            add(ch_ce, ch_key, ch.ce)
            add(ch_ue, ch_key, ch.ue)
            ch_info.add((*ch_key, ch.dimm_label), 1)
        for dimm in mc.dimms:
            add(dimm_ce, (mc.controller, dimm.dimm), dimm.ce)
            add(dimm_ue, (mc.controller, dimm.dimm), dimm.ue)
            dimm_info.add((mc.controller, dimm.dimm, dimm.label, dimm.location, dimm.mem_type), 1)
            if dimm.size_mib is not None:
                dimm_size.add((mc.controller, dimm.dimm), dimm.size_mib * 2**20)
    return [info, mc_ce, mc_ue, noinfo_ce, noinfo_ue, row_ce, row_ue, ch_ce, ch_ue, ch_info,
            dimm_ce, dimm_ue, dimm_info, dimm_size]


class EdacCollector(SysfsCollector[list[Controller]]):
    name = "edac"


@register("edac", default_enabled=True,
          description="EDAC memory controllers: correctable/uncorrectable ECC errors per DIMM")
def create(settings: Settings, _shared: Shared) -> EdacCollector:
    return EdacCollector(settings.path_sysfs, read_edac, edac_families)
