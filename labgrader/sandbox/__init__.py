"""Isolation for student code: bubblewrap namespaces, an unprivileged user, resource limits."""
from .bubblewrap import Sandbox, SandboxUnavailable, check_once

__all__ = ["Sandbox", "SandboxUnavailable", "check_once"]
