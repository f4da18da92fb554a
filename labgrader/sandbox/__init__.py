"""Isolation for student code: bubblewrap namespaces, an unprivileged user, resource limits."""
from .bubblewrap import Sandbox, SandboxUnavailable

__all__ = ["Sandbox", "SandboxUnavailable"]
