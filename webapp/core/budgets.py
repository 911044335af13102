"""Budgets per client that every process shares: a log of what each client spent, by window.

``spend(bucket, client, cost, windows)`` adds ``cost`` to the client's log of
``bucket`` if that keeps every window within its amount (``Window(60, 60)``:
60 in any 60 seconds), else raises ``OverBudget`` saying when enough of the
log will have aged out (``retry_after``). A sliding log, not a fixed window: a
client can never spend twice the amount across a window's edge, so "60 per
minute" is true of every minute, and the wait it names is exact.

The log is kept where every web process on every host sees it: Redis (a
sorted set per client, checked and added to by one Lua script) when
``REDIS_URL`` is set, else the database (the ``budget_entries`` table; a
transaction per spend, which SQLite's ``BEGIN IMMEDIATE`` and PostgreSQL's
advisory lock per client make one at a time). A Redis that does not answer
falls back to the database, so a budget holds while Redis is down. Clients
are named by ``samples.client_key``: a keyed hash of the address, never the
address itself.
"""

import hashlib
import math
import re
import secrets
import time
from dataclasses import dataclass

import redis
from flask import current_app
from sqlalchemy import delete, func, insert, select, text

from .db import BudgetEntry, db

UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
PRUNE_EVERY = 200          # one spend in this many also deletes every client's aged-out entries


@dataclass(frozen=True)
class Window:
    """At most ``amount`` in any ``seconds``; ``text`` as the setting wrote it ("60 per minute")."""

    amount: int
    seconds: int
    text: str


class OverBudget(Exception):
    """The spend would break ``window``; ``retry_after`` whole seconds until it would not."""

    def __init__(self, window, retry_after):
        super().__init__(f"{window.text}: try again in {retry_after} s")
        self.window = window
        self.retry_after = retry_after


def parse_windows(text):
    """ "60 per minute;600 per hour" (or "10/second", "100 per 5 minutes") → Windows."""
    windows = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        found = re.fullmatch(r"(\d+)\s*(?:per|/)\s*(\d+\s+)?(second|minute|hour|day)s?", part)
        if not found:
            raise ValueError(f"{part!r} is not a budget like '60 per minute'")
        amount, count, unit = found.groups()
        windows.append(Window(int(amount), int(count or 1) * UNITS[unit], part))
    return tuple(windows)


def spend(bucket, client, cost, windows, now=None):
    """Add ``cost`` to ``client``'s ``bucket`` if every window allows it; else ``OverBudget``."""
    if not windows:
        return
    now = time.time() if now is None else now
    store = current_app.extensions.get("digits_budget_redis")
    if store is not None:
        try:
            return store.spend(bucket, client, cost, windows, now)
        except redis.RedisError as exc:
            current_app.logger.warning("budget %s in Redis failed (%s): counted in the "
                                       "database instead", bucket, exc)
    return spend_in_database(bucket, client, cost, windows, now)


def retry_after(entries, cost, window, now):
    """Seconds until ``entries`` ((at, cost) oldest first, inside ``window``) leave room."""
    used = sum(c for _, c in entries)
    if cost > window.amount:
        return window.seconds
    for at, spent in entries:
        used -= spent
        if used + cost <= window.amount:
            return max(1, math.ceil(at + window.seconds - now))
    return 1


def spend_in_database(bucket, client, cost, windows, now):
    """The spend in the request's own session, committed (or rolled back) before it returns.

    The session, not a connection of its own: on SQLite a second connection would wait
    for the write lock a session holding a transaction keeps.
    """
    longest = max(w.seconds for w in windows)
    db.session.commit()
    try:
        _spend_in(db.session.connection(), bucket, client, cost, windows, now, longest)
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def _spend_in(connection, bucket, client, cost, windows, now, longest):
    if connection.dialect.name == "postgresql":
        lock = int.from_bytes(hashlib.sha256(f"{bucket}:{client}".encode()).digest()[:8],
                              "big", signed=True)
        connection.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": lock})
    mine = (BudgetEntry.bucket == bucket) & (BudgetEntry.client == client)
    sums = connection.execute(select(*[
        func.coalesce(func.sum(BudgetEntry.cost).filter(BudgetEntry.at > now - w.seconds), 0)
        for w in windows]).where(mine, BudgetEntry.at > now - longest)).one()
    for window, used in zip(windows, sums):
        if used + cost > window.amount:
            entries = connection.execute(
                select(BudgetEntry.at, BudgetEntry.cost)
                .where(mine, BudgetEntry.at > now - window.seconds)
                .order_by(BudgetEntry.at)).all()
            raise OverBudget(window, retry_after(entries, cost, window, now))
    connection.execute(insert(BudgetEntry).values(bucket=bucket, client=client, at=now,
                                                  cost=cost))
    if secrets.randbelow(PRUNE_EVERY) == 0:
        connection.execute(delete(BudgetEntry).where(
            BudgetEntry.at < now - max(UNITS["day"], longest)))


# KEYS[1]: the client's sorted set (score: time, member: "<unique>:<cost>").
# ARGV: now, cost, member, then amount and seconds of each window.
# Returns {1} when spent, or {0, retry_after, index of the window that refused}.
SPEND_SCRIPT = """
local now, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local longest = 0
for i = 4, #ARGV, 2 do longest = math.max(longest, tonumber(ARGV[i + 1])) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
for i = 4, #ARGV, 2 do
  local amount, seconds = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - seconds), '+inf',
                             'WITHSCORES')
  local used = 0
  for j = 1, #entries, 2 do used = used + tonumber(string.match(entries[j], ':(%d+)$')) end
  if used + cost > amount then
    local wait = seconds
    if cost <= amount then
      for j = 1, #entries, 2 do
        used = used - tonumber(string.match(entries[j], ':(%d+)$'))
        if used + cost <= amount then
          wait = math.max(1, math.ceil(tonumber(entries[j + 1]) + seconds - now))
          break
        end
      end
    end
    return {0, wait, (i - 2) / 2}
  end
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(longest * 1000))
return {1}
"""


class RedisBudgets:
    """The log in Redis: one sorted set per bucket and client, changed only by ``SPEND_SCRIPT``."""

    def __init__(self, url, prefix):
        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.script = self.client.register_script(SPEND_SCRIPT)
        self.prefix = prefix

    def spend(self, bucket, client, cost, windows, now):
        arguments = [repr(now), cost, f"{secrets.token_hex(8)}:{cost}"]
        for window in windows:
            arguments += [window.amount, window.seconds]
        answer = self.script(keys=[f"{self.prefix}:{bucket}:{client}"], args=arguments)
        if not answer[0]:
            raise OverBudget(windows[int(answer[2]) - 1], int(answer[1]))


def init_app(app):
    """Keep the log in Redis when ``REDIS_URL`` is set (the database otherwise)."""
    if app.config["REDIS_URL"]:
        app.extensions["digits_budget_redis"] = RedisBudgets(
            app.config["REDIS_URL"], app.config["RATELIMIT_KEY_PREFIX"])
