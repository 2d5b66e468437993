"""Constants shared by the export/backend tests.

A uniquely named module rather than conftest.py, so that `from … import` cannot pick up another test
directory's conftest when several are collected in one run.
"""

# fp32 ONNX Runtime vs torch, normalised action units (= joint units with identity metadata).
# Measured: ~2.4e-7 on the demo preset; the margin covers other CPUs' kernel choices.
PARITY_ATOL = 1e-4
