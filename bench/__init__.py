"""The benchmark: `make bench` (README, "Benchmark"). Not part of the service."""
