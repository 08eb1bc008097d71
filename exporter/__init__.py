"""kvm-exporter: a Prometheus exporter for KVM/libvirt hypervisors."""

__version__ = "0.1.0"
