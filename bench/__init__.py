"""Stickerbot's benchmarks: `python -m bench` (tiny model, CPU, minutes) and `python -m bench --full-size`.

Prints a table and writes the figures as JSON to `bench-results/`. Single measurements:
`python -m bench.speed_switches` (each model speed switch), `python -m bench.switch_cost`
(style switching) and `python -m bench.postprocess_stages` (post-processing per stage).
Benchmarks measure; tests never assert timings.
"""
