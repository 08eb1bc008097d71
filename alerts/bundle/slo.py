"""The availability SLO of every VM (`vm_availability_target`, 99.99% by default): recording
rules per VM, per host and fleet-wide, and multi-window, multi-burn-rate alerts in the SRE
workbook's shape, as Sloth and Pyrra generate them.

A VM counts while it should run. Bad time: crashed, paused on an I/O error (or a crash, or a
failed post-copy), and shut off by a crash or a failed start while marked autostart. Good
time: running, idle, shutting down, suspended to RAM. Planned time out (shut off on purpose,
paused by a user or a job, saved, migrated away) counts neither way. A host whose exporter is
down gives no samples: its VMs' time is not counted then.
"""

from __future__ import annotations

from bundle.model import HOST, VM, Alert, Case, Record, RecordCase, s

UNAVAILABLE = "instance_domain:kvm_domain_unavailable:bool"
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")

_BAD = ('kvm_domain_state_info{$sel,state="crashed"}'
        ' or kvm_domain_state_info{$sel,state="paused",reason=~"ioerror|crashed|postcopy_failed"}'
        ' or (kvm_domain_state_info{$sel,state="shutoff",reason=~"crashed|failed"}'
        " and on (job, instance, domain) kvm_domain_autostart{$sel} == 1)")
_GOOD = 'kvm_domain_state_info{$sel,state=~"running|blocked|shutdown|pmsuspended"}'
_VM = "job, instance, domain"


def errors(window: str) -> str:
    return f"instance_domain:kvm_domain_unavailable:ratio_avg{window}"


def _state(name: str, state: str, reason: str, values: str) -> dict[str, str]:
    return {s("kvm_domain_state_info", f'domain="{name}",state="{state}",reason="{reason}"'): values}


_AUTOSTART = {s("kvm_domain_autostart", 'domain="crashy"'): "1x20", s("kvm_domain_autostart", 'domain="off"'): "0x20"}
SLO_RECORDS = [
    Record(UNAVAILABLE, f"max by ({_VM}) ({_BAD}) or max by ({_VM}) ({_GOOD}) * 0", [RecordCase(
        series={**_state("web", "running", "booted", "1x20"), **_state("db", "paused", "ioerror", "1x20"),
                **_state("crashy", "shutoff", "crashed", "1x20"), **_state("off", "shutoff", "crashed", "1x20"),
                **_state("held", "paused", "user", "1x20"), **_AUTOSTART},
        at="10m", samples={'domain="web"': 0, 'domain="db"': 1, 'domain="crashy"': 1})]),  # off, held: planned
    *(Record(errors(w), f"avg_over_time({UNAVAILABLE}[{w}])") for w in WINDOWS[:-1]),
    Record(errors("30d"), f"avg_over_time({UNAVAILABLE}[30d])", [RecordCase(
        series={**_state("web", "running", "booted", "1x29 stale"), **_state("web", "crashed", "panicked", "_x30 1x9")},
        at="39m", samples={'domain="web"': 0.25})]),  # 10 bad of 40 samples
    Record("instance:kvm_domain_unavailable:ratio_avg30d", f"avg by (job, instance) ({errors('30d')})"),
    Record("job:kvm_domain_unavailable:ratio_avg30d", f"avg by (job) ({errors('30d')})"),
    *(Record(f"{level}:kvm_domain_availability:ratio_avg30d", f"1 - {level}:kvm_domain_unavailable:ratio_avg30d")
      for level in ("instance_domain", "instance", "job")),
    *(Record(f"{level}:kvm_domain_error_budget_remaining:ratio",
             f"1 - {level}:kvm_domain_unavailable:ratio_avg30d / $vm_error_budget")
      for level in ("instance_domain", "instance", "job")),
]


def _burning(factor: float, short: str, long: str) -> str:
    return (f"({errors(short)} > ({factor} * $vm_error_budget)"
            f" and {errors(long)} > ({factor} * $vm_error_budget))")


def _outage(minutes_bad: int, minutes: int) -> dict[str, str]:
    """A VM that runs, then sits crashed for its last `minutes_bad` of `minutes`."""
    good = minutes - minutes_bad
    if not minutes_bad:
        return _state("web-1", "running", "booted", f"1x{minutes}")
    return {**_state("web-1", "running", "booted", f"1x{good - 1} stale"),
            **_state("web-1", "crashed", "panicked", f"_x{good} 1x{minutes_bad - 1}")}


SLO_DIAGNOSIS = ["the VM dashboard (Availability row: availability and error budget over 30 days)",
                 "`virsh domstate --reason DOMAIN`; the VM's crash, pause and start alerts of the same time"]
SLO_ALERTS = [
    Alert(
        name="VmAvailabilityBudgetBurningFast", layer="virtualization", fault="vm_health", severity="critical",
        expr=f"{_burning(14.4, '5m', '1h')} or {_burning(6, '30m', '6h')}",
        for_="2m", summary="A VM spends its availability error budget fast.",
        description=f"VM {VM} on {HOST} was unavailable {{{{ $value | humanizePercentage }}}} of the time lately: "
        "at this rate its 30-day error budget is gone within days.",
        impact="The VM is down (crashed, paused on an I/O error, failed to start) while it should run, long "
        "enough that the availability target (`vm_availability_target`) will be missed unless it is fixed now.",
        diagnosis=SLO_DIAGNOSIS,
        mitigation=["Bring the VM back first (see VmCrashed, VmPausedOnIoError, VmAutostartNotRunning), then "
                    "find the cause."],
        dashboard="KVM VM", cases=[
            Case(series=_outage(10, 70), at="69m", labels={"domain": "web-1"},
                 description="VM web-1 on hv1:9978 was unavailable 100% of the time lately: at this rate its "
                 "30-day error budget is gone within days."),
            Case(series=_outage(0, 70), at="69m"),
        ]),
    Alert(
        name="VmAvailabilityBudgetBurningSlow", layer="virtualization", fault="vm_health", severity="warning",
        expr=f"{_burning(3, '2h', '1d')} or {_burning(1, '6h', '3d')}",
        for_="15m", summary="A VM spends its availability error budget steadily.",
        description=f"VM {VM} on {HOST} has been unavailable often enough in the last hours and days to miss "
        "its 30-day availability target at this rate.",
        impact="Repeated short outages (crash and restart, brief I/O-error pauses) add up past what the "
        "availability target allows.",
        diagnosis=SLO_DIAGNOSIS,
        mitigation=["Find what keeps interrupting the VM (crash loop, flaky storage) and fix it."],
        dashboard="KVM VM", cases=[
            # one bad minute in ten: 10%, above 3x the budget in the 2 h and 1 d windows alike
            Case(series={**_state("web-1", "running", "booted", "1x8 stale " * 20),
                         **_state("web-1", "crashed", "panicked", "stale _x8 1 " * 20)},
                 at="190m", labels={"domain": "web-1"},
                 description="VM web-1 on hv1:9978 has been unavailable often enough in the last hours and days to "
                 "miss its 30-day availability target at this rate."),
            Case(series=_outage(0, 200), at="190m"),
        ]),
]
