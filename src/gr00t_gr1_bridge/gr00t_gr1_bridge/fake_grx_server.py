"""A stand-in for Fourier's grx server speaking fourier-grx-client 0.1.5's zenoh protocol.

For tests and bench bring-up without a robot: the real client (and so the bridge) connects to it
unchanged. What it implements, mirrored from the client's source:

* zenoh peer listening on tcp/<ip>:7447 (the client's fixed port), scouting off;
* queryables `<ns>/robot/info` (the client's liveness check) and `<ns>/control/enable` ("ON"/"OFF"),
  replies msgpack-encoded;
* publishes `<ns>/joint/position` and `<ns>/joint/velocity` (32-vectors in degrees, msgpack with
  msgpack-numpy arrays) at `rate_hz`;
* subscribes `<ns>/control/joints/position` (the full 32-vector in degrees) and moves each motor
  toward it at up to `max_velocity_deg_s` (a crude servo), only while the motors are ON.

    python -m gr00t_gr1_bridge.fake_grx_server --ip 127.0.0.1
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import numpy as np

from gr00t_gr1_bridge.grx_client import import_fourier_grx_client

# Fourier's default pose (fourier_grx_client.constants.DEFAULT_POSITIONS), radians -> degrees.
_DEFAULT_POSE_RAD = (
    [0.0, 0.0, -0.2618, 0.5236, -0.2618, 0.0] * 2
    + [0.0] * 6
    + [0.0, 0.2, 0.0, -0.3, 0.0, 0.0, 0.0]
    + [0.0, -0.2, 0.0, -0.3, 0.0, 0.0, 0.0]
)


class FakeGrxServer:
    def __init__(
        self, ip: str = "127.0.0.1", namespace: str = "gr", rate_hz: float = 400.0, max_velocity_deg_s: float = 180.0
    ) -> None:
        import_fourier_grx_client()  # puts GR00T_GRX_SITE (zenoh, msgpack) on the path
        import msgpack
        import msgpack_numpy
        import zenoh

        self._zenoh = zenoh
        self._pack = lambda value: msgpack.packb(value, default=msgpack_numpy.encode)
        self._unpack = lambda payload: msgpack.unpackb(payload, object_hook=msgpack_numpy.decode)
        self.namespace = namespace
        self.period_s = 1.0 / rate_hz
        self.max_velocity_deg_s = max_velocity_deg_s
        self.lock = threading.Lock()
        self.positions_deg = np.rad2deg(np.array(_DEFAULT_POSE_RAD))
        self.velocities_deg = np.zeros(32)
        self.target_deg: np.ndarray | None = None
        self.motors_on = False
        self.publishing = True  # False simulates a lost link / dead server loop
        self.received_commands: list[np.ndarray] = []
        self.enable_requests: list[str] = []
        config = zenoh.Config()
        config.insert_json5(zenoh.config.LISTEN_KEY, json.dumps([f"tcp/{ip}:7447"]))
        config.insert_json5("scouting/multicast/enabled", "false")
        config.insert_json5("scouting/gossip/enabled", "false")
        self._session = zenoh.open(config)
        self._entities = [
            self._session.declare_queryable(f"{namespace}/robot/info", self._on_info),
            self._session.declare_queryable(f"{namespace}/control/enable", self._on_enable),
            self._session.declare_subscriber(f"{namespace}/control/joints/position", self._on_position_command),
        ]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake_grx_server", daemon=True)
        self._thread.start()

    def _reply(self, query, value) -> None:
        query.reply(self._zenoh.Sample(query.key_expr, self._pack(value)))

    def _on_info(self, query) -> None:
        self._reply(query, {"name": "fake-grx", "joints": 32})

    def _on_enable(self, query) -> None:
        command = self._unpack(query.value.payload) if query.value is not None else ""
        with self.lock:
            self.enable_requests.append(command)
            self.motors_on = command == "ON"
        self._reply(query, "OK")

    def _on_position_command(self, sample) -> None:
        command = np.asarray(self._unpack(sample.payload), dtype=np.float64)
        if command.shape != (32,):
            return  # the real server expects the full vector; anything else is dropped
        with self.lock:
            self.received_commands.append(command)
            self.target_deg = command

    def _loop(self) -> None:
        key_position = f"{self.namespace}/joint/position"
        key_velocity = f"{self.namespace}/joint/velocity"
        while not self._stop.wait(self.period_s):
            with self.lock:
                if self.motors_on and self.target_deg is not None:
                    step = np.clip(
                        self.target_deg - self.positions_deg,
                        -self.max_velocity_deg_s * self.period_s,
                        self.max_velocity_deg_s * self.period_s,
                    )
                    self.positions_deg = self.positions_deg + step
                    self.velocities_deg = step / self.period_s
                else:
                    self.velocities_deg = np.zeros(32)
                positions, velocities, publishing = (
                    self.positions_deg.copy(),
                    self.velocities_deg.copy(),
                    self.publishing,
                )
            if publishing:
                self._session.put(key_position, self._pack(positions))
                self._session.put(key_velocity, self._pack(velocities))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        for entity in self._entities:
            entity.undeclare()
        self._session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ip", default="127.0.0.1", help="address to listen on (port 7447, as the client expects)")
    parser.add_argument("--namespace", default="gr")
    parser.add_argument("--rate-hz", type=float, default=400.0)
    args = parser.parse_args()
    server = FakeGrxServer(args.ip, args.namespace, args.rate_hz)
    print(f"fake grx server on tcp/{args.ip}:7447 namespace {args.namespace!r}; Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
