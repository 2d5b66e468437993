"""Shared fixtures: the stack config and one simulator per test module (the model is cached, but
creating a renderer and loading it still costs ~0.2 s, so tests share it and reset it)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from gr00t_description import StackConfig, load_stack
from gr00t_sim import GR1TabletopSim, SimConfig


@pytest.fixture(scope="session")
def stack() -> StackConfig:
    return load_stack()


@pytest.fixture(scope="module")
def shared_sim(stack: StackConfig) -> Iterator[GR1TabletopSim]:
    sim = GR1TabletopSim(stack.robot, SimConfig.from_node_parameters(stack.node_parameters("sim")))
    yield sim
    sim.close()


@pytest.fixture
def sim(shared_sim: GR1TabletopSim) -> GR1TabletopSim:
    """The module's simulator, reset to the home pose with the configured seed."""
    shared_sim.reset(shared_sim.config.seed)
    return shared_sim


_DOMAINS = itertools.count(start=101 + os.getpid() % 80)


@pytest.fixture(scope="module")
def ros_context():
    """An rclpy context of its own (fresh domain id, localhost discovery) for a module's nodes."""
    import rclpy

    previous = os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE")
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=next(_DOMAINS))
    yield context
    rclpy.try_shutdown(context=context)
    if previous is None:
        os.environ.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
    else:
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = previous
