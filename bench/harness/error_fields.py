"""The error check's numbers for one CSV row (issue 19).

Its own module below `runner` so the harness layering runs one way (runner never imports the
method table).
"""

from __future__ import annotations

from statistics import median
from typing import Any


def error_check_fields(stats: Any) -> dict[str, Any]:
    """Measured / estimated error ratios of one run (error_check.py), for its CSV row."""
    ratios = [
        r.check_measured / r.check_estimated
        for r in getattr(stats, "records", [])
        if getattr(r, "check_measured", None) is not None and r.check_estimated
    ]
    if not ratios:
        return {"checks": 0}
    return {"checks": len(ratios), "check_ratio_median": median(ratios), "check_ratio_min": min(ratios),
            "check_ratio_max": max(ratios)}
