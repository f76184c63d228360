"""carebus benchmarks: `python -m bench [--stage NAME]` prints one JSON document (see ../shared/BENCH.md)."""
