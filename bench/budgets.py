"""Budget benchmark (not a test): what the shared per-client budgets cost a stored sample.

    python -m bench.budgets [--repeat 300]

1. Milliseconds per ``budgets.spend`` (the samples budget, "60 per minute;600 per
   hour") in SQLite, for a client with an empty log and for one with 599
   entries in its hour (the most the default allows), and in Redis when one
   answers at ``$DIGITS_TEST_REDIS`` (default redis://127.0.0.1:6379/0).
2. ``POST /api/v1/samples`` of a canvas PNG in-process (Flask's test client,
   SQLite), median milliseconds with the budgets counted and with
   ``RATELIMIT_ENABLED=False``, each request from an address of its own so no
   budget is ever spent up.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid

import redis

from tests import images
from webapp import create_app
from webapp.core import budgets

WINDOWS = budgets.parse_windows("60 per minute;600 per hour")
REDIS = os.environ.get("DIGITS_TEST_REDIS", "redis://127.0.0.1:6379/0")


def median_ms(call, repeat):
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def spend_costs(instance, repeat):
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
                      "LOG_REQUESTS": False})
    report = {}
    with app.app_context():
        report["sqlite, empty log"] = median_ms(
            lambda i: budgets.spend("samples", f"fresh {i}", 1, WINDOWS), repeat)
        now = time.time()
        for i in range(599):
            budgets.spend("samples", "busy", 1, WINDOWS, now=now - 3500 + i * 5)
        # Each spend is refused (the log is full) after reading all 599 entries.
        report["sqlite, 599 in the hour (refused)"] = median_ms(
            lambda i: _refused(lambda: budgets.spend("samples", "busy", 1, WINDOWS)), repeat)
    try:
        redis.Redis.from_url(REDIS, socket_timeout=1).ping()
    except redis.RedisError:
        return report
    prefix = f"digits-bench-{uuid.uuid4().hex[:8]}"
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
                      "LOG_REQUESTS": False, "REDIS_URL": REDIS, "RATELIMIT_KEY_PREFIX": prefix})
    store = app.extensions["digits_budget_redis"]
    with app.app_context():
        report["redis, empty log"] = median_ms(
            lambda i: budgets.spend("samples", f"fresh {i}", 1, WINDOWS), repeat)
    for key in store.client.scan_iter(f"{prefix}:*"):
        store.client.delete(key)
    return report


def _refused(call):
    try:
        call()
    except budgets.OverBudget:
        pass


def samples_post(instance, repeat, counted):
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
                      "LOG_REQUESTS": False, "RATELIMIT_ENABLED": counted})
    client, png = app.test_client(), images.drawing("7")
    return median_ms(lambda i: client.post(
        "/api/v1/samples?label=7", data=png, content_type="image/png",
        environ_base={"REMOTE_ADDR": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"}),
        repeat)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        report = {"spend_ms": spend_costs(os.path.join(tmp, "spend"), args.repeat),
                  "post_samples_ms": {
                      "budgets counted": samples_post(os.path.join(tmp, "on"), args.repeat, True),
                      "budgets off": samples_post(os.path.join(tmp, "off"), args.repeat, False)}}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
