"""The database: what users taught the network, the model versions, training runs, logins.

flaskr's ``db.py`` for SQLAlchemy: ``db`` is the Flask-SQLAlchemy handle and
``init_app(app)`` binds it. The default is SQLite in the instance folder
(``instance/digits.sqlite``, created 0600 in a 0700 folder), opened in WAL mode with a busy timeout and with
every transaction begun ``IMMEDIATE``, so writes from several gunicorn workers
queue instead of failing with "database is locked". ``DATABASE_URL`` selects
another database (PostgreSQL: ``postgresql+psycopg://…``).

The schema is Alembic's (``webapp/core/migrations``, through Flask-Migrate) and is
brought up to date on start, under a lock, so several processes starting
against a fresh database at once create it exactly once.
"""

import fcntl
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from flask_migrate import Migrate, upgrade
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer,
                        LargeBinary, String, Text, event, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..security import create_private, private_folder, private_opener

MIGRATIONS = Path(__file__).with_name("migrations")
# How long a request may wait for the database before it is answered 503 (errors.py), well
# inside gunicorn's 30 s worker timeout: SQLite's wait for another writer's lock, PostgreSQL's
# for a connection to be made and for one from the pool.
SQLITE_BUSY_TIMEOUT_MS = 10_000
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5
POSTGRES_LOCK_TIMEOUT = "10s"     # a statement waiting for another's lock (a table, a row)
POOL_TIMEOUT_SECONDS = 10


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True)


def utcnow():
    return datetime.now(timezone.utc)


def as_utc(moment):
    """SQLite hands back naive datetimes; every time stored here was written in UTC."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Sample(db.Model):
    """A drawing a user labelled: a correction or confirmation from the page, or an API upload.

    ``upload`` is the image exactly as sent, so a later preprocessing can derive
    the 28×28 image again; ``pixels`` is that image as made today (784 bytes,
    0..255, white ink on black, before the model's own deskewing). ``held_out``
    samples are never trained on: they measure how well a retrain generalises.

    ``label`` is a digit 0–9, or 10 (``samples.NOT_A_DIGIT``) for a drawing its
    sender says is not a digit: never trained on as one. ``state`` is the
    review's: "new" (a public correction, not trained on by default),
    "accepted" or "rejected" (never trained on). ``client`` is a keyed hash of
    the sender's address (``samples.client_key``), never the address itself.
    """

    __tablename__ = "samples"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    label: Mapped[int] = mapped_column(Integer)
    predicted: Mapped[int | None] = mapped_column(Integer)
    model_version: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))   # "page", "api", "admin" or "import"
    upload: Mapped[bytes] = mapped_column(LargeBinary)
    upload_type: Mapped[str] = mapped_column(String(32))       # image/png or image/jpeg
    pixels: Mapped[bytes] = mapped_column(LargeBinary)
    held_out: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(8), default="new", index=True)
    client: Mapped[str | None] = mapped_column(String(32), index=True)
    # A class's corrections carry their class and student (``classroom``): deleting the
    # class deletes them.
    classroom_id: Mapped[int | None] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[int | None] = mapped_column(
        ForeignKey("class_students.id", ondelete="CASCADE"))


class ModelVersion(db.Model):
    """One trained network: its ``.npz`` bytes, their SHA-256, metadata and metrics."""

    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)   # the version number
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    weights: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    sizes: Mapped[str] = mapped_column(String(64))               # "784-256-10", for lists
    meta: Mapped[dict] = mapped_column(JSON)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    origin: Mapped[str] = mapped_column(String(200))             # "shipped", "run 3", …
    run_id: Mapped[int | None] = mapped_column(Integer)


class Serving(db.Model):
    """The single row naming the version every web process serves."""

    __tablename__ = "serving"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)   # always 1
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    changed: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Activation(db.Model):
    """Each change of the serving version, in order: promotions and roll-backs."""

    __tablename__ = "activations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    action: Mapped[str] = mapped_column(String(16))     # "initial", "promote", "rollback"
    forced: Mapped[bool] = mapped_column(Boolean, default=False)


class TrainingRun(db.Model):
    """A retrain: its settings, live progress (written by the worker) and results.

    ``slot`` is 1 while the run is queued or running and NULL otherwise; it is
    unique, so the database itself refuses a second active run.
    """

    __tablename__ = "training_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    slot: Mapped[int | None] = mapped_column(Integer, unique=True)
    settings: Mapped[dict] = mapped_column(JSON)
    phase: Mapped[str] = mapped_column(String(200), default="waiting for a worker")
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    epochs: Mapped[int] = mapped_column(Integer)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    history: Mapped[list] = mapped_column(JSON, default=list)
    units: Mapped[list] = mapped_column(JSON, default=list)      # weight pictures per epoch
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    results: Mapped[dict | None] = mapped_column(JSON)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    classroom_id: Mapped[int | None] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"))    # a class's "Teach it" run


class Classroom(db.Model):
    """A lesson: its join ``code``, when it ends, its language and the model it serves.

    ``model_version_id`` is the class's own model (taught on its corrections) once the
    teacher has pressed "Teach it our handwriting"; until then the class reads with the
    promoted model. ``ended`` is set when the teacher ends it; past ``ends_at`` it is over
    too.
    """

    __tablename__ = "classrooms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    language: Mapped[str | None] = mapped_column(String(16))
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))


class ClassStudent(db.Model):
    """One browser that joined a class: an optional nickname, and its latest drawing
    (784 bytes, as ``Sample.pixels``) with what the network read, for the class board."""

    __tablename__ = "class_students"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    classroom_id: Mapped[int] = mapped_column(ForeignKey("classrooms.id", ondelete="CASCADE"),
                                              index=True)
    nickname: Mapped[str] = mapped_column(String(20), default="")
    joined: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    latest_pixels: Mapped[bytes | None] = mapped_column(LargeBinary)
    latest_digit: Mapped[int | None] = mapped_column(Integer)
    latest_confidence: Mapped[float | None] = mapped_column(Float)
    latest_version: Mapped[int | None] = mapped_column(Integer)
    latest_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SharedDrawing(db.Model):
    """A class's drawing shared by link (``token``): its reading, model version; seen only
    by the class unless the teacher ``published`` it."""

    __tablename__ = "shared_drawings"
    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    classroom_id: Mapped[int] = mapped_column(ForeignKey("classrooms.id", ondelete="CASCADE"),
                                              index=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"))
    model_version: Mapped[int] = mapped_column(Integer)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sample: Mapped[Sample] = relationship()


class LoginFailure(db.Model):
    """Failed admin logins per client, shared by every process (Flask-Limiter's memory is not)."""

    __tablename__ = "login_failures"
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BudgetEntry(db.Model):
    """One spend from a client's budget (``core.budgets``): a sample stored, its bytes.

    ``client`` is a keyed hash of the address; ``at`` seconds since the epoch. Entries
    older than the longest window (a day) are deleted as others are added.
    """

    __tablename__ = "budget_entries"
    __table_args__ = (Index("ix_budget_entries_lookup", "bucket", "client", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[str] = mapped_column(String(16))          # "samples", "storage"
    client: Mapped[str] = mapped_column(String(32))
    at: Mapped[float] = mapped_column(Float)
    cost: Mapped[int] = mapped_column(Integer)


class IdempotencyKey(db.Model):
    """The first answer to a ``POST /api/v1/samples`` sent with an ``Idempotency-Key``.

    ``fingerprint`` (SHA-256 of the image and label) tells a retry from another request
    under the same key; ``at`` is seconds since the epoch, kept ``IDEMPOTENCY_HOURS``.
    """

    __tablename__ = "idempotency_keys"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float, index=True)
    status: Mapped[int] = mapped_column(Integer)
    answer: Mapped[dict] = mapped_column(JSON)


class AdminSession(db.Model):
    """A logged-in admin: the cookie holds a random token, this table only its SHA-256, so a
    copy of the database opens no session. Logout deletes the row; a new password deletes
    them all; a row idle or old past its limits is refused (``admin.sessions``)."""

    __tablename__ = "admin_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)     # sha256 of the token
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    password: Mapped[str] = mapped_column(String(16))        # the password's fingerprint
    client: Mapped[str] = mapped_column(String(64))          # the address it logged in from


class TrainingWorker(db.Model):
    """A training worker that is alive: it writes ``seen`` every few seconds while it runs
    and deletes its row when it stops, so /healthz can tell a queued run nobody will take."""

    __tablename__ = "training_workers"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)   # "host:pid"
    started: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Setting(db.Model):
    """Small named values set from the command line (the admin password's hash)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def database_url(app):
    url = app.config["DATABASE_URL"]
    if not url:
        return f"sqlite:///{Path(app.instance_path) / 'digits.sqlite'}"
    # Heroku-style URLs name no driver; psycopg 3 is the one installed.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def init_app(app):
    """Bind ``db`` to ``app`` and bring the schema up to date (once, under a lock)."""
    private_folder(Path(app.instance_path))
    if not app.config["DATABASE_URL"]:
        create_private(Path(app.instance_path) / "digits.sqlite")
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url(app)
    options = {"pool_pre_ping": True}
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options.update(pool_timeout=POOL_TIMEOUT_SECONDS,
                       connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**options,
                                               **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
        elif db.engine.dialect.name == "postgresql":
            configure_postgresql(db.engine)
        with schema_lock(app):
            upgrade(directory=str(MIGRATIONS))
        db.engine.dispose()     # no connection may outlive a fork into gunicorn's workers


def configure_sqlite(engine):
    """WAL, a busy timeout, and ``BEGIN IMMEDIATE`` (SQLAlchemy's recipe for pysqlite).

    A deferred transaction that reads and then writes gets SQLITE_BUSY at once
    when another process writes; an immediate one waits its turn. A connection with
    the execution option ``read_only`` (the served model's check) begins deferred:
    in WAL mode a read never waits for a writer.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None   # SQLAlchemy, not pysqlite, begins transactions
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        read_only = connection.get_execution_options().get("read_only")
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def configure_postgresql(engine):
    """``lock_timeout`` on each connection: a statement queued behind another session's lock
    fails after ``POSTGRES_LOCK_TIMEOUT`` (a 503, errors.py) instead of waiting for ever."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{POSTGRES_LOCK_TIMEOUT}'")
        dbapi_connection.commit()


@contextmanager
def schema_lock(app):
    """One process at a time migrates: a file lock for SQLite, an advisory lock for PostgreSQL."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            # Another host's migration may take a while: wait for it, however long.
            connection.execute(text("SET LOCAL lock_timeout = 0"))
            connection.execute(text("SELECT pg_advisory_lock(5318008)"))
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(5318008)"))
                connection.commit()
        return
    with open(Path(app.instance_path) / "schema.lock", "w", opener=private_opener) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
