"""What every gr00t node shares, whatever its package: `main()` (node_main), QoS profiles (qos),
parameters from a config dataclass (parameters), /diagnostics and throttled input logs (diagnostics).

It lives in gr00t_description because every node package already depends on it, and it depends on
no model code: the teleop, the bridge and the console use it without importing the policy.
rclpy is imported by the modules that need it, not here.
"""
