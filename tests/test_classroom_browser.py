"""A whole lesson in Chromium: a teacher, two students' browsers, the board, teach, end, delete.

The app runs in a thread on a free port with the shipped model and a real
``digits worker`` process on the same instance folder (and, in the second
run, on PostgreSQL and Redis, as several hosts would). The teacher starts a
class; two students, each in a browser context of their own, open the join
link, give a nickname, draw and say which digit they meant; the board shows
both drawings live. The teacher rejects one correction and presses "Teach it
our handwriting"; the students' pages then read with the class's model
version while the public page still serves the promoted one. The teacher
ends the class (the students' pages say so) and deletes it: the database
holds no row of it afterwards. Nothing sleeps: every wait is for the DOM.
"""

import os
import time
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

import model
from tests.chromium import WATCH_CSP, answer, draw
from tests.drawings import BASE
from tests.support import CHECK_AS_SHIPPED, DATA_DIR, app_config, needs_data, serving
from webapp import create_app
from webapp.core.db import (Classroom, ClassStudent, ModelVersion, Sample, SharedDrawing,
                            TrainingRun, db)
from webapp.teaching import worker as training_worker

PASSWORD = "a password for the lesson"


@pytest.fixture(params=["sqlite", "postgresql+redis"])
def lesson_server(request, tmp_path):
    """``(url, app)``: the app and one training worker, on SQLite or on PostgreSQL + Redis.
    Nothing is held out: with two corrections, one rejected, the other must be taught."""
    instance = tmp_path / "instance"
    services = {}
    if request.param != "sqlite":
        services = {"DATABASE_URL": request.getfixturevalue("database_url"),
                    "REDIS_URL": request.getfixturevalue("redis_url"),
                    "HUEY_NAME": f"lesson-{uuid.uuid4().hex[:8]}"}
    app = create_app(app_config(instance, TESTING=False, MODEL=str(model.PRETRAINED),
                                MODEL_CHECK_SECONDS=CHECK_AS_SHIPPED, DATA_DIR=DATA_DIR,
                                JOB_HEARTBEAT_SECONDS=1, HOLD_OUT_PERCENT=0, **services))
    result = app.test_cli_runner().invoke(args=["admin", "set-password", "--password-stdin"],
                                          input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DIGITS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"DIGITS_INSTANCE_PATH": str(instance), "DIGITS_DATA_DIR": DATA_DIR,
                "DIGITS_MODEL": str(model.PRETRAINED), "DIGITS_JOB_HEARTBEAT_SECONDS": "1",
                **{f"DIGITS_{k}": v for k, v in services.items()}})
    worker = training_worker.start_consumer_process(env)
    try:
        with serving(app) as url:
            yield url, app
    finally:
        training_worker.stop_consumer_process(worker)


def watched(context):
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.add_init_script(WATCH_CSP)
    return page


def join(browser, link, nickname):
    page = watched(browser.new_context(viewport={"width": 900, "height": 900}))
    page.goto(link)
    page.get_by_test_id("nickname").fill(nickname)
    page.get_by_test_id("join").click()
    page.wait_for_function("() => window.htmx && document.querySelector('#reading')")
    return page


def draw_and_correct(page, name, label):
    """Draw ``name``; say it was ``label``; the digit the network read."""
    draw(page, BASE[name][1])
    read = answer(page)
    button = page.get_by_test_id("confirm") if read == str(label) else \
        page.get_by_test_id(f"label-{label}")
    button.click()
    expect(page.get_by_test_id("teach")).to_contain_text(f"Saved as a {label}")
    return read


def rows_of(app, classroom_id):
    """Every row that names the class, per table."""
    with app.app_context():
        counts = {table.__tablename__: db.session.scalar(
            select(func.count()).select_from(table).where(table.classroom_id == classroom_id))
            for table in (ClassStudent, Sample, SharedDrawing, TrainingRun)}
        counts["classrooms"] = db.session.scalar(select(func.count()).select_from(Classroom)
                                                 .where(Classroom.id == classroom_id))
        counts["class models"] = db.session.scalar(
            select(func.count()).select_from(ModelVersion)
            .where(ModelVersion.origin.like("class %")))
        db.session.commit()
        return counts


@needs_data
def test_a_lesson_from_start_to_delete(browser, lesson_server):
    url, app = lesson_server
    teacher_context = browser.new_context(viewport={"width": 1280, "height": 900})
    teacher = watched(teacher_context)
    teacher.goto(url + "/admin/classes/")
    teacher.get_by_label("Password").fill(PASSWORD)
    teacher.get_by_role("button", name="Log in").click()
    teacher.get_by_test_id("class-name").fill("Class 4B")
    teacher.get_by_test_id("start-class").click()
    expect(teacher.get_by_test_id("qr")).to_be_visible()
    code = teacher.get_by_test_id("join-code").inner_text().strip()
    link = teacher.get_by_test_id("join-link").get_attribute("href")
    assert link.endswith(f"/class/{code}")
    board = watched(teacher_context)
    board.goto(url + f"/admin/classes/{code}/board")
    expect(board.get_by_test_id("join-code")).to_have_text(code)

    # Two students join by the link, draw and correct; the board shows both, live.
    ana, ben = join(browser, link, "Ana"), join(browser, link, "Ben")
    draw_and_correct(ana, "7", 7)
    draw_and_correct(ben, "3", 3)
    tiles = board.get_by_test_id("tile")
    expect(tiles).to_have_count(2)
    expect(board.locator(".wall")).to_contain_text("Ana")
    expect(board.locator(".wall")).to_contain_text("Ben")
    expect(board.get_by_test_id("class-accuracy")).to_contain_text("of 2 labelled drawings")
    tiles.first.locator("a").click()
    expect(board.get_by_test_id("close-up-bars")).to_be_visible()

    # The teacher rejects one correction and presses teach.
    teacher.reload()
    corrections = teacher.get_by_test_id("correction")
    expect(corrections).to_have_count(2)
    corrections.first.get_by_test_id("reject").click()
    expect(teacher.locator('[data-testid="correction"][data-review="rejected"]')).to_have_count(1)
    expect(board.get_by_test_id("class-accuracy")).to_contain_text("of 1 labelled drawing")
    teacher.get_by_test_id("teach").click()
    expect(teacher.get_by_test_id("before-after")).to_be_visible(timeout=180_000)
    with app.app_context():
        classroom = db.session.scalar(select(Classroom).where(Classroom.code == code))
        version, classroom_id = classroom.model_version_id, classroom.id
        db.session.commit()
    assert version is not None and version != 1
    expect(teacher.locator("#teach-run")).to_have_attribute("data-status", "succeeded")

    # The students' pages read with the class's model; the public page with the promoted one.
    # A student's status poll may have read the class just before the teach run saved its
    # model: the promise is that every process sees it within one check, so wait one.
    time.sleep(CHECK_AS_SHIPPED + 0.5)
    for student in (ana, ben):
        student.reload()
        student.wait_for_function("() => window.htmx && document.querySelector('#reading')")
        draw(student, BASE["7"][1])
        answer(student)
        expect(student.get_by_test_id("model-version")).to_have_text(f"Model version {version}")
    public = watched(browser.new_context())
    public.goto(url + "/")
    public.wait_for_function("() => window.htmx && document.querySelector('#reading')")
    draw(public, BASE["7"][1])
    answer(public)
    expect(public.get_by_test_id("model-version")).to_have_text("Model version 1")

    # The teacher ends the class: the students' pages say so.
    teacher.get_by_test_id("end-class").click()
    expect(teacher.get_by_test_id("class-over")).to_be_visible()
    for student in (ana, ben):
        expect(student.get_by_test_id("class-ended")).to_be_visible(timeout=15_000)

    # Deleting it leaves no row of it.
    assert rows_of(app, classroom_id)["class_students"] == 2
    teacher.get_by_test_id("delete-confirm").fill(code)
    teacher.get_by_test_id("delete-class").click()
    expect(teacher).to_have_url(url + "/admin/classes/")
    assert rows_of(app, classroom_id) == {"class_students": 0, "samples": 0,
                                          "shared_drawings": 0, "training_runs": 0,
                                          "classrooms": 0, "class models": 0}
    for page in (teacher, board, ana, ben, public):
        assert page.problems == []
        assert page.evaluate("window.cspViolations") == []
