# What the PyTorch reference steps share: time `step` (zero the gradients, forward,
# backward, update, read the loss back) over `steps` runs after `warmup` runs.
import time


def time_steps(step, warmup, steps):
    """The step's median, 10th and 90th percentiles and mean, in ms, as a line."""
    times = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        step()
        if i >= warmup:
            times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    n = len(times)
    return (f"median {times[n // 2]:.3f} ms, p10 {times[n // 10]:.3f}, "
            f"p90 {times[n * 9 // 10]:.3f}, mean {sum(times) / n:.3f}")
