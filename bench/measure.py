"""Small statistics for benchmark samples."""
import math
import statistics


def median(values) -> float:
    return round(statistics.median(values), 2)


def percentile(values, share: float) -> float:
    """Nearest-rank percentile (share in 0..1)."""
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 2)
