"""Load test (not a test): one class of students drawing at once, the board on the projector,
and a "Teach it our handwriting" run during the lesson.

    python -m bench.load_class [--students 40] [--seconds 60] [--teach-seconds 90]
                               [--only lesson|teach]   (part of make loadtest)

Like ``bench.load`` (whose drawings, timing and runner it reuses), this file is
both the locust file and the runner: ``digits serve`` as shipped on a free
loopback port, a class started in its database, and locust headless against it:

1. ``--students`` students for ``--seconds``. Each joins with the code (GET the
   join page, POST a nickname), opens the class's draw page and draws the way
   ``static/draw.js`` sends: a picture every 150 ms while the pen moves, one
   at pen-up marked ``final`` (that one goes to the board), one request at a
   time; after four digits in ten it says which digit it meant (a
   correction); every 5 s its page asks whether the class has ended. Beside them the board: the projector's page polls the wall
   every second and the teacher's page the corrections every two
   (``GET …/wall?since=…``, answered 204 while nothing changed). Targets: 0
   failed requests, p95 ≤ 50 ms for the students' readings and for the
   board's updates.
2. The same class for ``--teach-seconds`` while the class's teach run (the
   worker ``digits serve`` starts) runs, started 15 s in. Target: the
   students' readings' p99 ≤ 100 ms, during the run and over the whole time.

The session cookie is sent over plain http here (``SESSION_COOKIE_SECURE``
off): locust's cookie jar keeps no Secure cookie for http://127.0.0.1.
"""

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.loadkit import (SEND_EVERY, cpu_seconds, percentiles, run_measured,  # noqa: E402
                           stroke_frames)

CLASS_CODE, ANSWERS, PASSWORD = ("DIGITS_CLASS_CODE", "DIGITS_CLASS_LOAD_ANSWERS",
                                  "DIGITS_CLASS_PASSWORD")
READ, CORRECT, WALL, REVIEW = ("POST /class/predict", "POST /class/corrections",
                               "GET board wall", "GET teacher corrections")
STATUS = "GET class status"
BOARD_PASSWORD = "a password for the load test"


def start_class(env):
    """Make the admin password and a class in the served instance; the class's code."""
    from webapp import create_app
    from webapp.admin import auth
    from webapp.classroom import lessons
    from webapp.config import Config

    app = create_app({**Config.defaults(), **Config.from_environment(env), "TESTING": True})
    with app.app_context():
        auth.set_password(BOARD_PASSWORD)
        return lessons.start("load test", 120).code, app


def in_process(repeat=300):
    """Median ms per request through Flask's test client (no server, no network, no waiting
    for a core): the public reading, a class's reading during a stroke and at pen-up, and
    the board's wall of 40 drawings, changed and unchanged. What a request costs, whatever
    else runs on the machine."""
    import statistics

    from bench.web import bare_app
    from tests import images
    import model
    from tests.support import (HX, PASSWORD_HASH, app_config, browser, class_draw, join_class,
                               log_in, start_class, token)
    from webapp import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(app_config(Path(tmp, "instance"), MODEL=str(model.PRETRAINED),
                                    MODEL_CHECK_SECONDS=1.0, LOG_REQUESTS=False,
                                    ADMIN_PASSWORD_HASH=PASSWORD_HASH,
                                    RATELIMIT_ENABLED=False))
        teacher = browser(app)
        log_in(teacher)
        teacher.hx = {**HX, "X-CSRFToken": token(teacher, "/admin/")}
        code = start_class(teacher)
        students = [join_class(app, code, f"s{i}") for i in range(40)]
        for student in students:
            class_draw(student, code)
        public = browser(app)
        grid = public.get("/").text.split('data-grid="', 1)[1].split('"', 1)[0]
        form = {"image": images.data_url(images.drawing("7")), "grid": grid, "seq": "1"}
        bare = bare_app().test_client()
        png = images.drawing("7")
        wall = f"/admin/classes/{code}/wall"
        stamp = teacher.get(wall, headers=HX).text.split('data-stamp="', 1)[1].split('"')[0]
        read = f"/class/{code}/predict"
        requests = {
            "bare Flask": lambda: bare.post("/api/v1/predict", data=png,
                                            content_type="image/png"),
            "public reading": lambda: public.post("/predict", headers=HX, data=form),
            "class reading": lambda: students[0].post(read, headers=students[0].hx,
                                                      data={**form, "final": "0"}),
            # closed, as a server closes an answer it sent: the board's write runs then
            "class reading at pen-up": lambda: students[1].post(
                read, headers=students[1].hx, data={**form, "final": "1"}).close(),
            "board wall, changed": lambda: teacher.get(wall, headers=HX),
            "board wall, unchanged": lambda: teacher.get(f"{wall}?since={stamp}", headers=HX),
        }
        times = {}
        for name, request in requests.items():
            request()
            if name == "board wall, unchanged":
                stamp = teacher.get(wall, headers=HX).text.split('data-stamp="', 1)[1] \
                    .split('"')[0]
            samples = []
            for _ in range(repeat if "wall" not in name else repeat // 3):
                started = time.perf_counter()
                request()
                samples.append((time.perf_counter() - started) * 1000)
            times[name] = round(statistics.median(samples), 2)
        return times


def run_locust(url, students, seconds, workdir, name, env):
    answers = Path(workdir, f"{name}-answers.jsonl")
    command = [sys.executable, "-m", "locust", "-f", __file__, "--headless",
               "--users", str(students + 1), "--spawn-rate", str(max(1, students // 4)),
               "--run-time", f"{seconds}s", "--stop-timeout", "5", "--host", url,
               "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0",
               "Student", "Board"]
    env = {**env, ANSWERS: str(answers), "PYTHONPATH": str(ROOT)}
    with open(Path(workdir, f"{name}-locust.log"), "wb") as log:
        status, _output, locust_cpu = run_measured(command, env, seconds + 120, stdout=log)
    if status != 0:
        raise SystemExit(f"bench: locust failed ({status}); see {workdir}/{name}-locust.log")
    return [json.loads(line) for line in answers.read_text().splitlines()], locust_cpu


def summarise(answers, window=None):
    if window:
        answers = [a for a in answers if window[0] <= a["sent"] <= window[1]]
    by = {n: [a for a in answers if a["name"] == n] for n in (READ, CORRECT, WALL, REVIEW)}
    board = by[WALL] + by[REVIEW]
    return {"requests": len(answers), "failed": sum(not a["ok"] for a in answers),
            "failures": sorted({a["error"] for a in answers if not a["ok"]})[:5],
            "readings": {"n": len(by[READ]), **percentiles([a["ms"] for a in by[READ]])},
            "corrections": len(by[CORRECT]),
            "board": {"n": len(board), "changed": sum(a["status"] == 200 for a in board),
                      **percentiles([a["ms"] for a in board])},
            "board_rendered": percentiles([a["ms"] for a in board if a["status"] == 200]
                                          or [0.0, 0.0])}


def teach_during(app, code, start_after, events):
    from sqlalchemy import select

    from webapp.classroom import lessons
    from webapp.core.db import TrainingRun, db
    from webapp.teaching import runs
    from webapp.teaching.settings import CLASS_TEACH

    time.sleep(start_after)
    with app.app_context():
        classroom = lessons.by_code(code)
        events["taught_from"] = lessons.teachable(classroom.id)
        run = runs.start(CLASS_TEACH, classroom_id=classroom.id)
        events["teach_started"] = time.time()
        while True:
            time.sleep(0.2)
            status = db.session.scalar(select(TrainingRun.status)
                                       .where(TrainingRun.id == run.id))
            db.session.commit()
            if status not in ("queued", "running"):
                break
        events["teach_finished"] = time.time()
        done = runs.get(run.id)
        events["status"], events["error"] = done.status, done.error
        events["results"] = done.results


def line(name, result):
    r, b = result["readings"], result["board"]
    return (f"{name}: {result['requests']} requests, {result['failed']} failed; readings "
            f"p50 {r['p50']} ms, p95 {r['p95']} ms, p99 {r['p99']} ms (n={r['n']}); board "
            f"updates p95 {b['p95']} ms, p99 {b['p99']} ms (n={b['n']}, {b['changed']} "
            f"changed; rendered p95 {result['board_rendered']['p95']} ms); "
            f"{result['corrections']} corrections")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--teach-seconds", type=int, default=90)
    parser.add_argument("--only", choices=["lesson", "teach"])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args(argv)
    if args.only != "lesson" and not os.environ.get("DIGITS_DATA_DIR"):
        raise SystemExit("bench: the teach scenario needs $DIGITS_DATA_DIR (MNIST); "
                         "or run --only lesson")
    from bench.slow_clients import digits_serve

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="digits-class-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()}
    report["in_process_ms"] = in_process()
    print("in-process, median ms a request: " + ", ".join(
        f"{name} {ms}" for name, ms in report["in_process_ms"].items()), flush=True)
    with digits_serve(log_dir=workdir, env={"DIGITS_SESSION_COOKIE_SECURE": "false"}) as (
            port, env, server):
        url = f"http://127.0.0.1:{port}"
        code, app = start_class(env)
        env = {**env, CLASS_CODE: code, PASSWORD: BOARD_PASSWORD}
        if args.only != "teach":
            cpu = cpu_seconds(server.pid)
            answers, locust_cpu = run_locust(url, args.students, args.seconds, workdir,
                                             "lesson", env)
            server_cpu = cpu_seconds(server.pid) - cpu
            report["lesson"] = {**summarise(answers), "students": args.students,
                                "seconds": args.seconds, "server_cpu_s": round(server_cpu, 1),
                                "server_cpu_ms_per_request": round(
                                    server_cpu * 1000 / max(len(answers), 1), 2),
                                "locust_cpu_s": round(locust_cpu, 1),
                                "load_average": os.getloadavg()}
            print(line("lesson", report["lesson"]) + f"; server CPU "
                  f"{report['lesson']['server_cpu_ms_per_request']} ms a request", flush=True)
        if args.only != "lesson":
            events = {}
            teacher = threading.Thread(target=teach_during, args=(app, code, 15, events))
            teacher.start()
            answers, locust_cpu = run_locust(url, args.students, args.teach_seconds, workdir,
                                             "teach", env)
            teacher.join()
            window = (events["teach_started"], events["teach_finished"])
            report["teach"] = {**summarise(answers), "during_teach": summarise(answers, window),
                               "teach_seconds": round(window[1] - window[0], 1),
                               "teach_status": events["status"], "error": events["error"],
                               "taught_from": events["taught_from"],
                               "results": events["results"], "load_average": os.getloadavg()}
            print(line("lesson with a teach run", report["teach"]), flush=True)
            print(line("  during the teach run", report["teach"]["during_teach"]), flush=True)
            print(f"  teach run {report['teach']['teach_status']} in "
                  f"{report['teach']['teach_seconds']} s from {events['taught_from']} "
                  f"corrections", flush=True)
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"logs and answers in {workdir}")


if __name__ == "__main__":
    main()
else:       # loaded by locust: the students and the board
    import random
    from urllib.parse import urlencode

    from locust import FastHttpUser, between, events, task

    DRAWINGS, ANSWER_LOG = [], []
    CODE = os.environ.get(CLASS_CODE, "")
    FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept-Encoding": "gzip",
            "Sec-Fetch-Site": "same-origin"}
    HX = {**FORM, "HX-Request": "true"}
    TOKEN = re.compile(rb'"X-CSRFToken": "([^"]+)"')
    FORM_TOKEN = re.compile(rb'name="csrf_token" value="([^"]+)"')
    GRID = re.compile(rb'data-grid="([^"]*)"')
    STAMP = re.compile(rb'data-stamp="([^"]*)"')
    CORRECTIONS_STAMP = re.compile(rb'corrections\?since=([^"&]+)"')

    @events.init.add_listener
    def make_drawings(environment, **_kwargs):
        from tests.drawings import all_drawings

        DRAWINGS.extend((digit, stroke_frames(strokes))
                        for digit, strokes in all_drawings().values())

    @events.quitting.add_listener
    def write_answers(environment, **_kwargs):
        with open(os.environ[ANSWERS], "w") as f:
            for answer in ANSWER_LOG:
                f.write(json.dumps(answer) + "\n")

    def timed(client, method, path, name, ok=(200,), **kwargs):
        sent, started = time.time(), time.perf_counter()
        with client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            ms = (time.perf_counter() - started) * 1000
            error = None if response.status_code in ok else f"status {response.status_code}"
            if error:
                response.failure(error)
            ANSWER_LOG.append({"name": name, "sent": sent, "ms": ms, "ok": error is None,
                               "error": error, "status": response.status_code})
            return response.content or b""

    class Student(FastHttpUser):
        """One student in the class, on a phone or laptop."""

        def on_start(self):
            page = timed(self.client, "GET", f"/class/{CODE}", "GET join page")
            token = FORM_TOKEN.search(page).group(1).decode()
            timed(self.client, "POST", f"/class/{CODE}/join", "POST join", ok=(200, 302),
                  headers=FORM, data=urlencode({"nickname": f"s{random.randrange(1000)}",
                                                "csrf_token": token}))
            page = timed(self.client, "GET", f"/class/{CODE}/draw", "GET draw page")
            self.token = TOKEN.search(page).group(1).decode()
            found = GRID.search(page)
            self.grid = found.group(1).decode() if found else ""
            self.seq = 0
            self.polled = time.monotonic()

        def status_poll(self):
            """The page's "has the class ended?" poll, every 5 s (204 while it runs)."""
            if time.monotonic() - self.polled >= 5.0:
                self.polled = time.monotonic()
                timed(self.client, "GET", f"/class/{CODE}/status", STATUS, ok=(204,),
                      headers={"HX-Request": "true"})

        def send(self, data_url, final):
            self.status_poll()
            self.seq += 1
            started = time.monotonic()
            timed(self.client, "POST", f"/class/{CODE}/predict", READ,
                  headers={**HX, "X-CSRFToken": self.token},
                  data=urlencode({"image": data_url, "seq": self.seq, "grid": self.grid,
                                  "final": "1" if final else "0"}))
            return started

        @task
        def draw_a_digit(self):
            digit, strokes = random.choice(DRAWINGS)
            for index, frames in enumerate(strokes):
                if index:
                    time.sleep(random.uniform(0.2, 0.5))
                for k, frame in enumerate(frames):
                    started = self.send(frame, final=k == len(frames) - 1)
                    time.sleep(max(0.0, SEND_EVERY - (time.monotonic() - started)))
            time.sleep(random.uniform(1.0, 2.0))
            if random.random() < 0.4:
                timed(self.client, "POST", f"/class/{CODE}/corrections", CORRECT,
                      headers={**HX, "X-CSRFToken": self.token},
                      data=urlencode({"image": strokes[-1][-1], "label": digit}))
            time.sleep(random.uniform(0.5, 1.5))

    class Board(FastHttpUser):
        """The projector's board and the teacher's page, logged in as the teacher."""

        fixed_count = 1
        wait_time = between(1.0, 1.0)

        def on_start(self):
            page = timed(self.client, "GET", "/admin/login", "GET login")
            token = FORM_TOKEN.search(page).group(1).decode()
            timed(self.client, "POST", "/admin/login", "POST login", ok=(200, 302), headers=FORM,
                  data=urlencode({"password": os.environ[PASSWORD], "csrf_token": token}))
            self.wall_since = self.review_since = ""
            self.ticks = 0

        @task
        def poll(self):
            body = timed(self.client, "GET", f"/admin/classes/{CODE}/wall?since={self.wall_since}",
                         WALL, ok=(200, 204), headers={"HX-Request": "true",
                                                      "Accept-Encoding": "gzip"})
            found = STAMP.search(body)
            if found:
                self.wall_since = found.group(1).decode()
            self.ticks += 1
            if self.ticks % 2 == 0:
                body = timed(self.client, "GET",
                             f"/admin/classes/{CODE}/corrections?since={self.review_since}",
                             REVIEW, ok=(200, 204), headers={"HX-Request": "true",
                                                             "Accept-Encoding": "gzip"})
                found = CORRECTIONS_STAMP.search(body)
                if found:
                    self.review_since = found.group(1).decode()

