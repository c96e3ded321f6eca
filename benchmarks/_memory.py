"""Process memory for the benchmarks, read from /proc/self/status (Linux).

VmHWM, not getrusage's ru_maxrss: ru_maxrss survives fork + exec and cannot be reset, so a
child process would start with its parent's peak, and imports would be charged to the
measured step.
"""

from __future__ import annotations

__all__ = ["peak_mb", "reset_peak", "rss_mb"]


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_mb() -> float:
    """Resident memory now, in MB."""
    return _status_mb("VmRSS")


def peak_mb() -> float:
    """Peak resident memory since the process started or since ``reset_peak()``, in MB."""
    return _status_mb("VmHWM")


def reset_peak() -> float:
    """Reset the kernel's peak-RSS mark (VmHWM) to now; returns the current RSS in MB."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return rss_mb()
