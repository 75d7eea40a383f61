"""Load tests and benchmarks of the platform (``make bench-read``)."""
