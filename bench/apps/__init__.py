"""Benchmark components: `trivial` for motion-grpc, `motion_trivial` (the same code) for Motion."""
