"""`Gr1Robot` on top of Fourier's own client library, fourier-grx-client 0.1.5 (zenoh).

The client pins eclipse-zenoh==0.11.0rc3, so it is installed on a path of its own
(docker/requirements-fourier-grx.txt) that only this process appends to `sys.path`
(`GR00T_GRX_SITE`): appended, so the policy environment's numpy etc. still win.

Two details of the client shape this adapter:
* Its state subscriber keeps only the newest payload, without a time: `_sensor_callback` is
  extended to stamp each joint sample on arrival, which is what the bridge's state watchdog needs.
* `close()` calls `abort()`, which *publishes the measured pose as a position command*. A bridge that
  never sent a command (dry run) must not send one while shutting down, so then the session is
  closed without it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import ModuleType
from typing import Any

import numpy as np

from gr00t_gr1_bridge.robot_interface import MotorState

GRX_SITE_ENV = "GR00T_GRX_SITE"
CLOSE_TIMEOUT_S = 3.0


def import_fourier_grx_client() -> ModuleType:
    site = os.environ.get(GRX_SITE_ENV, "")
    if site and site not in sys.path:
        sys.path.append(site)
    try:
        import fourier_grx_client
    except ImportError as exc:
        raise ImportError(
            "fourier-grx-client is not importable: pip install --target DIR -r docker/requirements-fourier-grx.txt "
            f"and set {GRX_SITE_ENV}=DIR (the images do this in /opt/gr00t/grx-site)"
        ) from exc
    return fourier_grx_client


class FourierGrxRobot:
    """Adapter: fourier_grx_client.RobotClient -> `Gr1Robot` (32-vectors in degrees)."""

    def __init__(self, server_ip: str = "127.0.0.1", namespace: str = "gr", state_rate_hz: int = 400) -> None:
        self.server_ip = server_ip
        self.namespace = namespace
        self.state_rate_hz = state_rate_hz
        self._client: Any = None
        self._lock = threading.Lock()
        self._latest: MotorState | None = None
        self._sequence = 0
        self._sent_any = False
        self._control_group_all: Any = None

    def connect(self) -> None:
        grx = import_fourier_grx_client()
        adapter = self

        class _StampedClient(grx.RobotClient):
            def _sensor_callback(self, sample: Any) -> None:
                super()._sensor_callback(sample)
                if str(sample.key_expr).endswith("/joint/position"):
                    adapter._on_joint_sample(self.states["joint"])

        # Raises FourierConnectionError (a ConnectionError) when robot/info gets no answer.
        self._client = _StampedClient(freq=self.state_rate_hz, namespace=self.namespace, server_ip=self.server_ip)
        self._control_group_all = grx.ControlGroup.ALL

    def _on_joint_sample(self, joint: Any) -> None:
        positions = np.asarray(joint["position"], dtype=np.float64)
        velocity = joint["velocity"]
        velocities = None if velocity is None else np.asarray(velocity, dtype=np.float64)
        with self._lock:
            self._sequence += 1
            self._latest = MotorState(positions, velocities, time.monotonic(), self._sequence)

    def latest_state(self) -> MotorState | None:
        with self._lock:
            return self._latest

    def set_motors_enabled(self, enabled: bool) -> None:
        self._client.set_enable(enabled)

    def send_positions_deg(self, positions_deg: np.ndarray) -> None:
        # duration=0: published as is, no interpolation thread (the bridge already slew-limits).
        self._client.move_joints(
            self._control_group_all,
            np.asarray(positions_deg, dtype=np.float64),
            duration=0.0,
            degrees=True,
            blocking=False,
        )
        self._sent_any = True

    def close(self) -> None:
        if self._client is None:
            return
        if not self._sent_any:
            self._client.server_connected = False  # skip abort(): it would publish a command
        client, self._client = self._client, None
        # A zenoh session closing while samples keep arriving can block (seen with the fake server
        # at 200 Hz, and once in a bridge stopped right after start-up): bounded, so the node still
        # exits before a launcher escalates to SIGKILL; the process ending closes the socket anyway.
        closer = threading.Thread(target=client.close, name="grx_client_close", daemon=True)
        closer.start()
        closer.join(CLOSE_TIMEOUT_S)
        if closer.is_alive():
            print(
                f"gr1 bridge: the fourier-grx-client session did not close within {CLOSE_TIMEOUT_S:g} s; "
                "leaving it to the process exit",
                file=sys.stderr,
            )
            return
        # fourier_grx_client's close() runs again from __del__ and is not idempotent: with the
        # undeclared publishers still listed it logs a traceback (AttributeError), and a client
        # still marked connected would send abort() again. Leave it nothing to do.
        client.server_connected = False
        for entities in (client._services, client._subscribers, client._publishers):
            entities.clear()
