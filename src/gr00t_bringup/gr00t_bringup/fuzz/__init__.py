"""Hostile-input fuzzing of the stack's nodes: generated messages, requests and goals on every
subscription, service and action server a running node has, with checks that the node survives,
keeps its outputs safe and recovers once good input returns.

Why here, in gr00t_bringup, and not in a test-support folder: the harness is used by the test suite
(`test/test_fuzz_nodes.py`, few examples) and by the longer run (`benchmarks/fuzz_nodes.py
--examples N`), it starts nodes as processes the way bring-up does (`processes.executable_path`),
and gr00t_bringup is the one package that already depends on every node package.

  strategies.py  hypothesis strategies for any ROS message type (built from the type's field
                 description), with hostile values: stamps far from the clock, non-finite floats,
                 empty / oversize sequences, images whose sizes disagree, invalid or huge strings
  harness.py     interface discovery from the running node, the drivers, the report
  profiles.py    per node: executable, parameters, good input, outputs to check, recovery check
"""
