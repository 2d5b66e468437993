"""gr00t_gr1_bridge: the real Fourier GR-1 behind the gr00t-ros command stream.

Pure parts (no rclpy, no zenoh): `joint_map` (names <-> Fourier motor vector, radians <-> degrees),
`robot_interface` (the small interface the node drives), `bridge_core` (enable / dry-run / watchdog
state machine + the shared `JointLimiter`). `grx_client` adapts fourier-grx-client to the interface;
`fake_grx_server` answers the client's zenoh protocol for tests and bench bring-up.
"""
