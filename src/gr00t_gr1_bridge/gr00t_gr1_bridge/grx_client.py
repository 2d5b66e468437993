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
# Sessions close() could not close safely (see FourierGrxRobot.close): the process must end with os._exit.
SESSIONS_LEFT_OPEN: list[Any] = []


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


def _zenoh_callback_readers() -> list[threading.Thread]:
    """The reader threads zenoh (0.11) starts for Python callbacks (zenoh.closures, `readqueue`)."""
    return [
        t
        for t in threading.enumerate()
        if getattr(getattr(t, "_target", None), "__qualname__", "").endswith("readqueue") and t.is_alive()
    ]


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
        self._readers: set[threading.Thread] = set()  # zenoh's reader threads of this client's callbacks

    def connect(self) -> None:
        grx = import_fourier_grx_client()
        adapter = self

        class _StampedClient(grx.RobotClient):
            def _sensor_callback(self, sample: Any) -> None:
                super()._sensor_callback(sample)
                if str(sample.key_expr).endswith("/joint/position"):
                    adapter._on_joint_sample(self.states["joint"])

        # Raises FourierConnectionError (a ConnectionError) when robot/info gets no answer.
        readers_before = set(_zenoh_callback_readers())
        self._client = _StampedClient(freq=self.state_rate_hz, namespace=self.namespace, server_ip=self.server_ip)
        self._readers = set(_zenoh_callback_readers()) - readers_before
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
        """Undeclare the client's entities, then close its zenoh session unless that would deadlock.

        fourier-grx-client's own close() (abort if it sent commands, undeclare, session.close()) can
        hang the process for good (seen about once in 15 bridges stopped right after start-up, with
        the server streaming at 200 Hz): undeclaring a subscriber drops its callback on a zenoh
        thread, which joins the callback's reader thread; when that reader misses the close of its
        queue, the drop never ends, and session.close() then waits for it holding the GIL, which
        stops every Python thread, including this node's main thread. So the entities are undeclared
        here, the readers are given CLOSE_TIMEOUT_S to end, and the session is closed only if they
        did. Otherwise it is left to the process exit (the bridge's main() ends with os._exit, since
        the stuck reader is not a daemon thread); SESSIONS_LEFT_OPEN lists them.
        """
        if self._client is None:
            return
        client, self._client = self._client, None
        if self._sent_any and client.server_connected:
            client.abort()  # as the client's close(): hold the measured pose
            time.sleep(0.1)
        client.server_connected = False
        for entities in (client._services, client._subscribers, client._publishers):
            for entity in entities.values():
                try:
                    entity.undeclare()
                except Exception:  # noqa: BLE001 - closing anyway; one failed undeclare must not stop it
                    pass
            # fourier_grx_client's close() runs again from __del__: leave it nothing to undeclare.
            entities.clear()
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        while any(t.is_alive() for t in self._readers) and time.monotonic() < deadline:
            time.sleep(0.02)
        session, client.session = client.session, None
        if any(t.is_alive() for t in self._readers):
            SESSIONS_LEFT_OPEN.append(session)  # kept referenced: dropping it would close it here
            print(
                f"gr1 bridge: zenoh callback threads still running {CLOSE_TIMEOUT_S:g} s after undeclaring; "
                "the session is left to the process exit",
                file=sys.stderr,
            )
            return
        if session is not None:
            session.close()
