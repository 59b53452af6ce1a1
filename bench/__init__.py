"""Stickerbot's benchmarks: `python -m bench` (tiny model, CPU, minutes) and `python -m bench --full-size`.

Prints a table and writes the figures as JSON to `bench-results/`. Benchmarks measure; tests
never assert timings.
"""
