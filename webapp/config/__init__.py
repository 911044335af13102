"""Every setting of digits in one table: its name, environment variable, type, default, meaning.

``create_app()`` starts from ``Config.defaults()``, then ``instance/config.py`` if
present, then the environment (``Config.from_environment()``); a test passes
``test_config`` instead of the last two. Nothing else in ``webapp/`` reads the
environment or sets a default: a module that needs a setting reads
``app.config[NAME]``, or ``Config.value(NAME)`` where no app runs yet (``digits
serve``'s options, the generated drawings' cache). ``python -m webapp.config``
(``__main__.py``) prints the table that docs/operating.md holds
(``Config.markdown_table()``). This package imports nothing from ``webapp``.
"""

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_UPLOAD_BYTES = 512 * 1024     # a 280×280 canvas PNG is 5–30 kB; a photo at ~1600 px fits
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


def parse_bool(text):
    word = text.strip().lower()
    if word not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError(f"{text!r} is not true or false")
    return word in TRUE_WORDS


def parse_optional(text):
    return text or None


KINDS = {   # type name in the table → how an environment variable's text is read
    "text": str, "text or unset": parse_optional, "path or unset": parse_optional,
    "whole number": int, "number": float, "true/false": parse_bool,
}


@dataclass(frozen=True)
class Setting:
    """One setting: ``app.config[name]``, set by ``$DIGITS_<name>`` (and ``also``, if given)."""

    name: str
    kind: str           # a key of KINDS
    default: object
    meaning: str
    also: str | None = None      # a conventional variable that sets it too (DATABASE_URL)
    shown: str | None = None     # the default as the table shows it, when not the value itself

    @property
    def variable(self):
        return f"DIGITS_{self.name}"

    def parse(self, text, variable):
        try:
            return KINDS[self.kind](text)
        except ValueError:
            raise ValueError(f"${variable}={text!r}: {self.name} must be {self.kind}") from None


# Every setting: ``$DIGITS_<NAME>`` sets ``app.config[NAME]``. A line that starts with
# spaces goes on with the meaning above it; "unset" is None.
TABLE = """
INSTANCE_PATH         | path or unset | unset     | The instance folder (SQLite database, job
                                                    queue, secret key); unset: instance/ in the
                                                    checkout.
SECRET_KEY            | text or unset | unset     | Signs sessions and CSRF tokens; unset: a random
                                                    key kept in instance/secret_key.
MODEL                 | path or unset | unset     | The .npz made version 1 in a new database;
                                                    unset: the shipped model.
MODEL_CHECK_SECONDS   | number        | 1.0       | How often a web process asks the database
                                                    which model version to serve.
UNSURE_BELOW          | number        | 0.6       | Confidence under which the page says it is
                                                    not sure.
DATABASE_URL          | text or unset | unset     | SQLAlchemy URL of the database (PostgreSQL for
                                                    several hosts); unset: SQLite in the instance
                                                    folder.
REDIS_URL             | text or unset | unset     | Redis for the job queue and the per-client
                                                    budgets (several hosts); unset: SQLite queue,
                                                    budgets in the database.
DATA_DIR              | path or unset | unset     | MNIST's four idx .gz files for retraining;
                                                    unset: ~/.cache/digits/mnist (downloaded when
                                                    missing).
PROMOTE_MARGIN        | number        | 0.005     | A promotion may cost at most this much MNIST
                                                    test accuracy (unless forced).
HOLD_OUT_PERCENT      | whole number  | 20        | Of new samples, the share kept back to measure
                                                    retrains, never trained on.
SAMPLES_RATE_LIMIT    | text          | 60 per minute;600 per hour | Per client, in any such
                                                    span, across every process and host: samples
                                                    stored (corrections and API uploads together).
CLIENT_STORAGE_KB     | whole number  | 4096      | Per client, in any 24 hours: KiB of samples
                                                    stored (a canvas drawing is under 1 KiB, a
                                                    photo 5–14 KiB).
SAMPLES_STORAGE_MB    | whole number  | 1024      | All samples together; when they fill it, new
                                                    ones are refused (507) until an admin deletes
                                                    some. /healthz and the admin show how full.
PREDICT_RATE_LIMIT    | number        | 10        | Per client and web process: readings a second
                                                    (the page sends ~7 while someone draws); 0: no
                                                    limit.
PREDICT_BURST         | whole number  | 30        | Readings a client may make at once before
                                                    PREDICT_RATE_LIMIT applies.
RATELIMIT_ENABLED     | true/false    | true      | Whether those budgets are counted at all.
IDEMPOTENCY_HOURS     | number        | 24        | How long POST /api/v1/samples remembers an
                                                    Idempotency-Key's first answer.
REVIEW_CONFIDENT      | number        | 0.9       | The review queue flags a label that differs
                                                    from a reading at least this sure.
REVIEW_BURST          | whole number  | 20        | New samples from one client within an hour
                                                    that the review queue flags as a burst.
ADMIN_PASSWORD_HASH   | text or unset | unset     | The admin password's Werkzeug hash; wins over
                                                    `digits admin set-password`'s.
LOGIN_FAILURE_LIMIT   | whole number  | 5         | Free admin login guesses per address (or
                                                    trusted browser); after them each guess
                                                    waits.
LOGIN_FAILURE_WINDOW  | whole number  | 900       | Seconds without a guess after which an
                                                    address's count is forgotten; the global
                                                    budget's period.
LOGIN_DELAY_SECONDS   | whole number  | 10        | The first wait after those guesses; it
                                                    doubles with each further failure.
LOGIN_DELAY_MAX_SECONDS | whole number | 600      | The longest wait between two guesses.
LOGIN_GLOBAL_LIMIT    | whole number  | 100       | Guesses per window from all addresses
                                                    together before all but trusted browsers
                                                    wait for the window's end.
ADMIN_SESSION_IDLE_SECONDS | whole number | 1800 | An admin session unused this long ends
                                                    (logout and a new password end it at once).
ADMIN_SESSION_MAX_SECONDS | whole number | 28800 | An admin session ends this long after its
                                                    login, however busy.
SESSION_COOKIE_SECURE | true/false    | true      | Send the session cookie over https only
                                                    (browsers allow http on localhost).
JOB_HEARTBEAT_SECONDS | number        | 2.0       | How often a training run writes its heartbeat.
JOB_STALE_SECONDS     | number        | 20.0      | A running run whose heartbeat is older than
                                                    this is marked failed.
HUEY_NAME             | text          | digits    | The job queue's name (several apps may share
                                                    one Redis).
LOG_REQUESTS          | true/false    | true      | One line per request on standard output, with
                                                    its time in milliseconds.
NODE_MODULES          | path or unset | checkout  | Where `npm ci` put htmx, served at
                                                    /vendor/htmx.min.js.
CACHE_DIR             | path or unset | unset     | Generated drawings are cached under it in
                                                    forms/; unset: ~/.cache/digits.
HOST                  | text          | 127.0.0.1 | `digits serve`'s address (its --host).
PORT                  | whole number  | 8000      | `digits serve`'s port (its --port).
WORKERS               | whole number  | unset     | `digits serve`'s web processes (--workers);
                                                    unset: one per core.
THREADS               | whole number  | 256       | Threads per web process (--threads): how many
                                                    slow connections each outlasts.
CLASS_MODELS_KEPT     | whole number  | 8         | Classes' own model versions each web process
                                                    keeps loaded (the least recently used go).
PROXIES               | whole number  | 0         | Trusted reverse proxies in front (--proxies;
                                                    nginx: 1).
TRUSTED_HOSTS         | text or unset | unset     | Host names the app answers to, separated by
                                                    commas (`.example.org` takes its subdomains
                                                    too; `*`: any); another name gets a 400.
                                                    Unset: localhost, 127.0.0.1 and HOST (HOST
                                                    0.0.0.0: this machine's name and addresses).
"""
# Also read under their conventional names, as hosting platforms set them.
ALSO = {"DATABASE_URL": "DATABASE_URL", "REDIS_URL": "REDIS_URL"}
# Defaults that depend on where the code is: (value, as the table shows it).
WHERE = {"checkout": (str(ROOT / "node_modules"), "`node_modules` in the checkout")}


def read_table(text):
    """``TABLE`` → Settings, each default read by its type as an environment value is."""
    rows = []
    for line in text.strip("\n").splitlines():
        if line.startswith(" "):
            rows[-1][3] += " " + line.strip()
        else:
            rows.append([cell.strip() for cell in line.split("|", 3)])
    settings = []
    for name, kind, default, meaning in rows:
        value, shown = WHERE.get(default, (None, None))
        if shown is None and default != "unset":
            value = Setting(name, kind, None, "").parse(default, "TABLE")
        settings.append(Setting(name, kind, value, meaning, also=ALSO.get(name), shown=shown))
    return tuple(settings)


class Config:
    """The settings table, read once; the fixed settings; and what the app asks of them."""

    SETTINGS = read_table(TABLE)
    # Fixed for every deployment, but still overridable through instance/config.py or a test.
    FIXED = {
        "WTF_CSRF_TIME_LIMIT": None,         # a token lives as long as the session (a page left open)
        "MAX_CONTENT_LENGTH": MAX_UPLOAD_BYTES,
        "MAX_FORM_MEMORY_SIZE": MAX_UPLOAD_BYTES,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        # A live fragment is ~60 kB of markup, sent several times a second while
        # someone draws; zstd shrinks it tenfold for ~0.1 ms (gzip 1 for older browsers).
        "COMPRESS_ALGORITHM": ["zstd", "gzip"],
        "COMPRESS_LEVEL": 1,
        # The budgets' keys in Redis start with this (several apps may share one Redis).
        "RATELIMIT_KEY_PREFIX": "digits-budget",
    }

    @classmethod
    def setting(cls, name):
        return next(s for s in cls.SETTINGS if s.name == name)

    @classmethod
    def defaults(cls):
        """Every setting at its default, and the fixed ones."""
        return {**{s.name: s.default for s in cls.SETTINGS}, **cls.FIXED}

    @classmethod
    def from_environment(cls, environ=None):
        """The settings the environment sets, typed: ``$DIGITS_<NAME>``, then ``also``'s name."""
        environ = os.environ if environ is None else environ
        found = {}
        for setting in cls.SETTINGS:
            for variable in (setting.variable, setting.also):
                if variable and environ.get(variable) is not None:
                    found[setting.name] = setting.parse(environ[variable], variable)
                    break
        return found

    @classmethod
    def value(cls, name, environ=None):
        """One setting as the environment sets it, else its default (where no app runs yet)."""
        return cls.from_environment(environ).get(name, cls.setting(name).default)

    @classmethod
    def markdown_table(cls):
        """The settings as the Markdown table of docs/operating.md."""
        lines = ["| Variable | Type | Default | Meaning |", "| --- | --- | --- | --- |"]
        for s in cls.SETTINGS:
            default = s.shown or ("unset" if s.default is None else
                                  f"`{str(s.default).lower() if s.kind == 'true/false' else s.default}`")
            variable = f"`{s.variable}`" + (f" or `{s.also}`" if s.also else "")
            lines.append(f"| {variable} | {s.kind} | {default} | {s.meaning} |")
        return "\n".join(lines) + "\n"
