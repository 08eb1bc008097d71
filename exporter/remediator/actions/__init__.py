"""The built-in actions. Each checks the live state first (never the alert's word for it),
does nothing when nothing is wrong, refuses when acting would not be safe, says what it
would do in dry-run, and verifies its effect after acting.

None of them destroys anything: no force-off, no snapshot revert, no fsck, no delete.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

SUCCEEDED = "succeeded"  # acted, and the live state is now healthy
FAILED = "failed"  # acted (or tried), and it did not help
REFUSED = "refused"  # a precondition does not hold: acting would be unsafe or pointless
NOT_NEEDED = "not_needed"  # the live state is already healthy
DRY_RUN = "dry_run"  # would have acted


@dataclass(frozen=True)
class Outcome:
    result: str
    detail: str


@dataclass(frozen=True)
class Context:
    """Where the actions act: this host's libvirt, network namespace and programs."""

    libvirt_uri: str = "qemu:///system"
    netns: str = ""  # a network namespace file (/run/netns/NAME); "" is the remediator's own
    iscsiadm: str = "iscsiadm"
    ansible_playbook: str = "ansible-playbook"
    python: str = sys.executable  # the interpreter Ansible's modules run with (it has libvirt-python)
    dry_run: bool = True
