"""A slower machine on this one, for the benchmarks (not a test): ``bench.web --slower N``.

A school's old server can be several times slower than the machine the figures were
measured on. This module makes each gunicorn worker run at ``1/N`` of a core, in a CPU
cgroup of its own (Linux, as root: cgroup v1's ``cpu`` controller or cgroup v2), and
``throttle_page`` slows Chromium's page by ``N`` the way its DevTools do
(``Emulation.setCPUThrottlingRate``), so the server's work and the browser's both take
about ``N`` times as long. The cgroup grants 1 ms of CPU in every ``N`` ms, so a request
waits at most a few milliseconds more than on a uniformly slow CPU.

gunicorn loads this file as its configuration (``-c python:bench.slower``) and calls
``post_fork`` in each new worker; ``DIGITS_BENCH_SLOWER`` says ``N``.
"""

import os
import time
from pathlib import Path

ENV = "DIGITS_BENCH_SLOWER"
CGROUP_V1 = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup")
PERIOD_US = 1000          # the shortest share a CPU cgroup grants


def cgroup_root():
    """Where CPU cgroups are made here (v1's ``cpu`` controller, else v2's), or None."""
    if (CGROUP_V1 / "cpu.cfs_quota_us").exists():
        return CGROUP_V1
    controllers = CGROUP_V2 / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return CGROUP_V2
    return None


def available():
    """Why ``--slower`` cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "--slower needs root (it makes CPU cgroups)"
    if cgroup_root() is None:
        return "--slower needs a CPU cgroup controller (cgroup v1 cpu, or v2 with cpu enabled)"
    return None


def confine(pid, factor):
    """Run process ``pid`` (all its threads) at 1/``factor`` of one core."""
    root = cgroup_root()
    group = root / f"digits-bench-{pid}"
    group.mkdir(exist_ok=True)
    if root == CGROUP_V1:
        (group / "cpu.cfs_period_us").write_text(str(round(PERIOD_US * factor)))
        (group / "cpu.cfs_quota_us").write_text(str(PERIOD_US))
    else:
        (group / "cpu.max").write_text(f"{PERIOD_US} {round(PERIOD_US * factor)}")
    (group / "cgroup.procs").write_text(str(pid))


def remove_groups():
    """Remove the cgroups of workers that have exited (after a run; a group still in use
    stays)."""
    root = cgroup_root()
    for group in sorted(root.glob("digits-bench-*")) if root else ():
        try:
            group.rmdir()
        except OSError:
            pass


def post_fork(server, worker):
    """gunicorn's hook, in each new worker: confine it when ``DIGITS_BENCH_SLOWER`` > 1."""
    factor = float(os.environ.get(ENV) or 1)
    if factor > 1:
        confine(os.getpid(), factor)


def throttle_page(page, factor):
    """Slow Chromium's work for ``page`` by ``factor`` (1: as fast as it is)."""
    if factor > 1:
        session = page.context.new_cdp_session(page)
        session.send("Emulation.setCPUThrottlingRate", {"rate": factor})
    return page


def loop_seconds(steps=10_000_000, rounds=3):
    """Seconds for an empty Python loop of ``steps`` steps (median of ``rounds``): the
    machine's speed, to compare figures from different machines."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(steps):
            pass
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]
