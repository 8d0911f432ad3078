"""MiniWoB++ for pixelpilot: the env adapter, its DOM oracle, and the benchmark suite."""
