"""The console node's parameters (values: `nodes.console` of the stack YAML) and the web server's
configuration built from them."""

from __future__ import annotations

from dataclasses import dataclass, field

from gr00t_console.server import ServerConfig
from gr00t_description.ros.parameters import parameter


@dataclass(frozen=True)
class ConsoleConfig:
    """The console node's parameters (values: `nodes.console` of the stack YAML)."""

    host: str = field(
        metadata=parameter(
            "address the web server listens on (127.0.0.1 = this machine only; 0.0.0.0 = every interface)"
        )
    )
    port: int = field(metadata=parameter("TCP port of the web server (0 = any free port, logged)", 0, 65535))
    token_file: str = field(
        metadata=parameter(
            "file holding the token that commands need; '' = generate one at "
            "start and print it; a named file that does not exist is created "
            "(0600) with a generated token"
        )
    )
    max_clients: int = field(metadata=parameter("WebSocket connections at once", 1, 64))
    max_request_bytes: int = field(metadata=parameter("largest request (HTTP body or WebSocket message)", 256, 65536))
    max_instruction_bytes: int = field(metadata=parameter("longest instruction or task text (UTF-8 bytes)", 16, 8192))
    requests_per_s: float = field(metadata=parameter("requests per second a WebSocket client may sustain", 1.0, 1000.0))
    push_rate_hz: float = field(
        metadata=parameter(
            "state pushes per second to each client (controller state changes are pushed at once)", 1.0, 60.0
        )
    )
    camera_max_fps: float = field(metadata=parameter("camera frames per second sent to each client", 0.5, 60.0))
    jpeg_quality: int = field(metadata=parameter("JPEG quality of the camera frames", 10, 95))
    max_image_bytes: int = field(
        metadata=parameter("larger camera frames are ignored (not encoded), bytes", 1024, 100_000_000)
    )
    plot_rate_hz: float = field(metadata=parameter("samples per second of the commanded/measured plot", 1.0, 200.0))
    plot_window_s: float = field(metadata=parameter("seconds of history in the plot", 1.0, 120.0))
    default_group: str = field(metadata=parameter("joint group plotted first (a group of the robot YAML)"))

    def server_config(self, token: str) -> ServerConfig:
        return ServerConfig(
            host=self.host,
            port=self.port,
            token=token,
            max_request_bytes=self.max_request_bytes,
            max_instruction_bytes=self.max_instruction_bytes,
            max_clients=self.max_clients,
            push_rate_hz=self.push_rate_hz,
            camera_max_fps=self.camera_max_fps,
            requests_per_s=self.requests_per_s,
            default_group=self.default_group,
        )
