"""Bounds for tests on a machine as busy as CI's can be (both cores taken by other work).

A call or a wait that normally takes milliseconds may take seconds there; these bounds only stop a test that would
otherwise hang. Nothing here measures speed: the benchmarks (`make bench-*`) do.
"""

# The deadline of the tests' gRPC channels and of their gateways' calls to services (not of the tests that are about
# deadlines: they set their own).
CALL_DEADLINE_SECONDS = 30.0
