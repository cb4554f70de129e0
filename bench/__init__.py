"""The benchmark: `make bench` (docs/benchmarks.md). Not part of the service."""
