"""Touching what a student controls (a hand-in, a kernel's working copy) without being steered by it."""
