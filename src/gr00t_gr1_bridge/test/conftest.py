"""Fixtures: the robot stack (gr1t2_robot.yaml) and, where fourier-grx-client is importable (directly
or via GR00T_GRX_SITE), a fake grx server on a loopback address of its own (127.x.y.z: the client's
port 7447 is fixed, so parallel runs must not share an address)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from gr00t_description import StackConfig, load_stack


@pytest.fixture(scope="session")
def robot_stack() -> StackConfig:
    return load_stack("gr1t2_robot")


@pytest.fixture
def grx_server_ip() -> str:
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"


@pytest.fixture
def fake_grx_server(grx_server_ip: str) -> Iterator[object]:
    try:
        from gr00t_gr1_bridge.grx_client import import_fourier_grx_client

        import_fourier_grx_client()
    except ImportError as exc:
        pytest.skip(f"protocol test needs fourier-grx-client (its pinned zenoh RC): {exc}")
    from gr00t_gr1_bridge.fake_grx_server import FakeGrxServer

    server = FakeGrxServer(ip=grx_server_ip, rate_hz=200.0)
    yield server
    server.close()
