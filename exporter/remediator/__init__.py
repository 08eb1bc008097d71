"""kvm-remediator: receives Alertmanager's webhook notifications and heals the faults that
are safe to heal, on this host only, dry-run unless told otherwise.

One remediator runs beside each exporter (see the README, "Self-healing"): it acts on the
alerts whose `instance` is its own host, through the host's own libvirt, netlink and
iscsiadm, so a host cut off from the network can still heal itself.

Fault id: remediation (its own metrics: actions by result, circuit breakers, time to
recover, the self-heal ratio).
"""
