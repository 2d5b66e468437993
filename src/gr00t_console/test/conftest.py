"""Fixtures of the console's tests (defined in console_testing)."""

from console_testing import sim_graph  # noqa: F401
