"""Timing shared by the bench_*.py scripts (run from this folder, so `from timing import …`)."""
import statistics
import time


def median_time(run, repeats, min_seconds=0.0, max_calls=50):
    """Median wall time of `run()` over at least `repeats` calls and, if `min_seconds` > 0,
    at least that many seconds of calls (at most `max_calls`), after one warm-up call
    (JIT compilation, FFT planning). Each result is dropped before the next call."""
    run()
    times = []
    first = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - first < min_seconds and len(times) < max_calls):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
        del result
    return float(statistics.median(times))
