"""Alerts on self-healing (fault id `remediation`, layer exporter): kvm-remediator itself,
and the two figures the operations guide sets targets for, mean time to recover and the
share of faults healed without a human. Their series carry `job="kvm-remediator"`."""

from __future__ import annotations

from bundle.model import HOST, Alert, Case, Record, grew

R = 'job="kvm-remediator",instance="hv1:9979"'  # the labels of the remediator's test series
AT = {"job": "kvm-remediator", "instance": "hv1:9979"}
FLEET = {"job": "kvm-remediator", "instance": "", "scope": "fleet"}  # fleet-wide: no instance
TTR = "kvm_remediator_time_to_recover_seconds"


def r(name: str, labels: str = "") -> str:
    return f"{name}{{{R}{',' + labels if labels else ''}}}"


RECORDS = [
    Record("job:kvm_remediator_recoveries:increase1d", f"sum by (job) (increase({TTR}_count{{$rsel}}[1d]))"),
    Record("job:kvm_remediator_time_to_recover_seconds:mean1d",
           f"sum by (job) (increase({TTR}_sum{{$rsel}}[1d])) / sum by (job) (increase({TTR}_count{{$rsel}}[1d]))"),
    Record("job:kvm_remediator_self_heal:ratio1d",
           f'sum by (job) (increase({TTR}_count{{$rsel,remediated="true"}}[1d]))'
           f" / sum by (job) (increase({TTR}_count{{$rsel}}[1d]))"),
]

ENOUGH = " and on (job) job:kvm_remediator_recoveries:increase1d >= $remediation_min_recoveries"

ALERTS: list[Alert] = [
    Alert(
        name="KvmRemediatorDown", layer="exporter", fault="remediation", severity="warning",
        expr="up{$rsel} == 0",
        for_="5m", summary="A kvm-remediator cannot be scraped.",
        description=f"Prometheus cannot scrape the kvm-remediator at {HOST}: faults on that host are not healed automatically.",
        impact="Faults the remediator would heal in seconds wait for a human.",
        diagnosis=["`systemctl status kvm-remediator`", "`journalctl -u kvm-remediator`",
                   "`curl -s http://HOST:9979/-/healthy`"],
        mitigation=["Restart the remediator; fix what its log names (a bad config exits 2 naming every problem)."],
        dashboard="KVM fleet", cases=[
            Case(series={f"up{{{R}}}": "0x10"}, at="8m", labels=AT,
                 description="Prometheus cannot scrape the kvm-remediator at hv1:9979: faults on that host are not healed automatically."),
            Case(series={f"up{{{R}}}": "1 0 0 1x7"}, at="8m"),
        ]),
    Alert(
        name="KvmRemediationFailing", layer="exporter", fault="remediation", severity="warning",
        expr=grew('kvm_remediator_actions_total{$rsel,result="failed"}', "15m", "job, instance, action", "$rsel"),
        for_="0m", summary="A remediation action failed.",
        description=f"Action {{{{ $labels.action }}}} of the kvm-remediator at {HOST} failed in the last 15 minutes: "
        "the fault it was meant to heal is still there.",
        impact="The fault is left for a human; repeated failures open the target's circuit breaker.",
        diagnosis=["the audit log: `grep '\"result\": \"failed\"' /var/lib/kvm-remediator/audit.jsonl | tail`",
                   "the remediator's landing page `/` (recent actions and their detail)",
                   "`journalctl -u kvm-remediator`"],
        mitigation=["Fix what the action's detail names (a domain that cannot start: its QEMU log; a link that "
                    "does not come up: the driver), then heal the fault by hand."],
        dashboard="KVM fleet", cases=[
            Case(series={r("kvm_remediator_actions_total", 'action="start_domain",result="failed"'): "_x20 1x10",
                         f"up{{{R}}}": "1x30"}, at="22m", labels={**AT, "action": "start_domain"},
                 description="Action start_domain of the kvm-remediator at hv1:9979 failed in the last 15 minutes: "
                 "the fault it was meant to heal is still there."),
            Case(series={r("kvm_remediator_actions_total", 'action="start_domain",result="failed"'): "1x30",
                         f"up{{{R}}}": "1x30"}, at="22m"),
        ]),
    Alert(
        name="KvmRemediatorCircuitOpen", layer="exporter", fault="remediation", severity="warning",
        expr="kvm_remediator_circuit_breaker_open{$rsel} == 1",
        for_="0m", summary="Self-healing gave up on a target.",
        description=f"The kvm-remediator at {HOST} stopped trying {{{{ $labels.action }}}} on {{{{ $labels.target }}}} "
        "after repeated failures (circuit breaker open).",
        impact="Faults of that target are not healed automatically until the breaker half-opens.",
        diagnosis=["the audit log entries of the target: `grep TARGET /var/lib/kvm-remediator/audit.jsonl`",
                   "why the action fails (its detail), and whether the fault keeps coming back"],
        mitigation=["Fix the target by hand; the breaker lets one attempt through after `breaker_open_for` "
                    "and closes on success, or restart the remediator to close it at once."],
        dashboard="KVM fleet", cases=[
            Case(series={r("kvm_remediator_circuit_breaker_open", 'action="start_domain",target="web-1"'): "1x5"},
                 at="2m", labels={**AT, "action": "start_domain", "target": "web-1"},
                 description="The kvm-remediator at hv1:9979 stopped trying start_domain on web-1 after repeated "
                 "failures (circuit breaker open)."),
            Case(series={r("kvm_remediator_circuit_breaker_open", 'action="start_domain",target="web-1"'): "0x5"},
                 at="2m"),
        ]),
    Alert(
        name="KvmRemediationMttrHigh", layer="exporter", fault="remediation", severity="warning",
        expr="job:kvm_remediator_time_to_recover_seconds:mean1d > $remediation_mttr_seconds" + ENOUGH,
        for_="30m", summary="Faults take too long to recover.",
        description="Alerts took {{ $value | humanizeDuration }} on average from firing to recovered over the "
        "last day (target 8 minutes).",
        impact="The fleet misses its recovery objective: VMs stay broken longer than the availability target allows.",
        diagnosis=["`histogram_quantile(0.9, sum by (le, remediated) (rate(kvm_remediator_time_to_recover_seconds_bucket[1d])))`: "
                   "slow healed ones or slow manual ones?",
                   "which alerts recover slowly: the audit log's `time_to_recover` of `resolved` records"],
        mitigation=["Add playbooks for the faults that are healed by hand, shorten `for:` where the fault is "
                    "unambiguous, or fix the routing that delays notifications (group_wait)."],
        dashboard="KVM fleet", extra_labels={"scope": "fleet"}, cases=[
            Case(series={r(f"{TTR}_count", 'remediated="true"'): "0+1x130", r(f"{TTR}_sum", 'remediated="true"'): "0+600x130",
                         r(f"{TTR}_count", 'remediated="false"'): "0x130", r(f"{TTR}_sum", 'remediated="false"'): "0x130"},
                 at="2h", labels=FLEET,
                 description="Alerts took 10m 0s on average from firing to recovered over the last day (target 8 minutes)."),
            Case(series={r(f"{TTR}_count", 'remediated="true"'): "0+1x130", r(f"{TTR}_sum", 'remediated="true"'): "0+300x130",
                         r(f"{TTR}_count", 'remediated="false"'): "0x130", r(f"{TTR}_sum", 'remediated="false"'): "0x130"},
                 at="2h"),
            Case(series={r(f"{TTR}_count", 'remediated="true"'): "0x129 2", r(f"{TTR}_sum", 'remediated="true"'): "0x129 3000",
                         r(f"{TTR}_count", 'remediated="false"'): "0x130", r(f"{TTR}_sum", 'remediated="false"'): "0x130"},
                 at="2h"),  # two slow recoveries in a day: too few to tell
        ]),
    Alert(
        name="KvmSelfHealRatioLow", layer="exporter", fault="remediation", severity="warning",
        expr="job:kvm_remediator_self_heal:ratio1d < $self_heal_ratio_target" + ENOUGH,
        for_="30m", summary="Too few faults are healed without a human.",
        description="{{ $value | humanizePercentage }} of the alerts that recovered over the last day were healed "
        "by kvm-remediator (target 85%).",
        impact="Operators are paged for faults a playbook could heal; recovery waits for people.",
        diagnosis=["`sum by (alertname) (count_over_time(ALERTS{alertstate=\"firing\"}[1d]))`: the most frequent alerts",
                   "the audit log's refused/not_needed decisions: faults with a playbook whose preconditions do not hold",
                   "`kvm_remediator_alerts_ignored_total{reason=\"no_playbook\"}`"],
        mitigation=["Add a playbook (`deploy/remediator/config.yml`) for the frequent faults that have a safe action; "
                    "fix the causes of the others; switch dry-run hosts to `--mode=enforce` once their audit logs look right."],
        dashboard="KVM fleet", extra_labels={"scope": "fleet"}, cases=[
            Case(series={r(f"{TTR}_count", 'remediated="true"'): "0+1x130", r(f"{TTR}_count", 'remediated="false"'): "0+1x130",
                         r(f"{TTR}_sum", 'remediated="true"'): "0+60x130", r(f"{TTR}_sum", 'remediated="false"'): "0+60x130"},
                 at="2h", labels=FLEET,
                 description="50% of the alerts that recovered over the last day were healed by kvm-remediator (target 85%)."),
            Case(series={r(f"{TTR}_count", 'remediated="true"'): "0+9x130", r(f"{TTR}_count", 'remediated="false"'): "0+1x130",
                         r(f"{TTR}_sum", 'remediated="true"'): "0+60x130", r(f"{TTR}_sum", 'remediated="false"'): "0+60x130"},
                 at="2h"),
        ]),
]
