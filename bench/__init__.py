"""Benchmarks of motion-grpc, each figure measured beside its baseline in the same run.

Run with `make bench` (quick profile) or `make bench-full`; see bench/README.md.
Modules that the Motion venv imports (`stats`, `motion_side`) use the standard
library only, so keep this package's import free of third-party code.
"""
