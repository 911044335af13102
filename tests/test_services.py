"""The multi-host mode against the real services: PostgreSQL for the data, Redis for limits.

Two apps on one PostgreSQL database stand for two hosts: a fresh database is
set up by whichever starts first (exactly once, even when several start
together), a sample sent to one is seen by the other, a promotion made on one
is served by the other, and a rate limit kept in Redis counts the requests of
both. Each test gets a schema and key prefix of its own. Without the services
these tests are skipped, except in CI (``CI=true``), where they must run.
"""

import uuid

import redis

import model
from tests import images
from tests.support import app_config, save_network, start_together
from webapp import create_app
from webapp.core import registry, samples


def host(tmp_path, name, database_url, model_path, **settings):
    """One "host": an app with its own instance folder on the shared database."""
    return create_app(app_config(tmp_path / name, DATABASE_URL=database_url,
                                 MODEL=str(model_path), **settings))


def start_app(instance, database_url, model_path, start):
    start.wait()
    create_app(app_config(instance, DATABASE_URL=database_url, MODEL=model_path))


def test_a_fresh_database_is_set_up_once_by_hosts_starting_together(tmp_path, database_url,
                                                                    model_path):
    hosts = [(tmp_path / f"h{i}", database_url, str(model_path)) for i in range(3)]
    assert start_together(start_app, hosts) == [0, 0, 0]
    app = host(tmp_path, "check", database_url, model_path)
    with app.app_context():
        assert [v.id for v in registry.versions()] == [1]
        assert [a.action for a in registry.history()] == ["initial"]


def test_two_hosts_share_samples_and_follow_a_promotion(tmp_path, database_url, model_path):
    a = host(tmp_path, "a", database_url, model_path)
    b = host(tmp_path, "b", database_url, model_path)
    sent = a.test_client().post("/api/v1/samples?label=7", data=images.drawing("7"),
                                content_type="image/png")
    assert sent.status_code == 201
    with b.app_context():
        assert samples.counts()[7] == 1
        assert samples.image(samples.get(sent.json["id"])).max() == 255
    with a.app_context():
        net, meta = model.load(save_network(tmp_path / "v2.npz", sizes=(784, 8, 10), seed=5))
        new = registry.register(net, meta, {"test_accuracy": None}, origin="test").id
        registry.promote(new)
    answer = b.test_client().post("/api/v1/predict", data=images.drawing("7"),
                                  content_type="image/png").json
    assert answer["model"] == {"version": new, "sizes": [784, 8, 10], "deskew": True}


def test_a_rate_limit_in_redis_counts_every_host(tmp_path, database_url, redis_url, model_path):
    prefix = f"digits-test-{uuid.uuid4().hex[:8]}"
    settings = {"REDIS_URL": redis_url, "SAMPLES_RATE_LIMIT": "3 per minute",
                "RATELIMIT_KEY_PREFIX": prefix}
    a = host(tmp_path, "a", database_url, model_path, **settings).test_client()
    b = host(tmp_path, "b", database_url, model_path, **settings).test_client()

    def send(client):
        return client.post("/api/v1/samples?label=7", data=images.drawing("7"),
                           content_type="image/png").status_code

    try:
        assert [send(a), send(b), send(a)] == [201, 201, 201]
        assert send(b) == 429
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)


def test_submissions_still_work_when_redis_is_down(tmp_path, model_path):
    """A rate limit kept in an unreachable Redis: counted in memory meanwhile, never a 500."""
    client = create_app(app_config(tmp_path / "no-redis", MODEL=str(model_path),
                                   REDIS_URL="redis://127.0.0.1:9/0",
                                   SAMPLES_RATE_LIMIT="3 per minute")).test_client()
    statuses = [client.post("/api/v1/samples?label=7", data=images.drawing("7"),
                            content_type="image/png").status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
