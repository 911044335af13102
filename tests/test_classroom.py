"""Class sessions: starting one, joining it, the board, its end, and what every route refuses.

The teacher is the ``admin`` fixture (teachers are the admins); students are
fresh browsers that joined with the code (``tests.support.join_class``).
Refused input must store nothing: each such test counts the rows afterwards.
"""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests import images
from tests.support import (HTTPS, HX, browser, class_correct, class_draw, join_class,
                           start_class, token)
from webapp.core.db import Classroom, ClassStudent, Sample, db, utcnow


def count(app, table, **where):
    with app.app_context():
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(getattr(table, column) == value)
        return db.session.scalar(query)


def class_id(app, code):
    with app.app_context():
        return db.session.scalar(select(Classroom.id).where(Classroom.code == code))


def test_a_class_has_a_short_code_a_link_and_a_qr_code(app, admin):
    code = start_class(admin, name="Class 4B")
    assert len(code) == 6 and code.isalnum() and code.isupper()
    page = admin.get(f"/admin/classes/{code}/").text
    assert f"/class/{code}" in page and "data:image/svg+xml" in page and "Class 4B" in page
    board = admin.get(f"/admin/classes/{code}/board").text
    assert code in board and 'data-testid="qr"' in board
    assert admin.get("/admin/classes/").text.count(code) >= 1


def test_students_join_by_code_and_the_board_shows_their_latest_drawings(app, admin):
    code = start_class(admin)
    assert browser(app).get(f"/join?code={code.lower()}").location.endswith(f"/class/{code}")
    ana, ben = join_class(app, code, "Ana"), join_class(app, code, "  Ben  ")
    assert ana.get(f"/class/{code}/draw").status_code == 200
    assert class_draw(ana, code, "7").status_code == 200
    explained = ana.post(f"/class/{code}/predict", headers=ana.hx, data={
        "image": images.data_url(images.drawing("7")), "explain": "reading", "unit": ""})
    assert 'id="explanation"' in explained.text and 'hx-swap-oob' in explained.text
    assert class_draw(ben, code, "3", final=False).status_code == 200
    wall = admin.get(f"/admin/classes/{code}/wall", headers=admin.hx).text
    assert wall.count('data-testid="tile"') == 1 and "Ana" in wall     # a stroke in progress: not yet
    class_draw(ben, code, "3")
    wall = admin.get(f"/admin/classes/{code}/wall", headers=admin.hx)
    assert wall.text.count('data-testid="tile"') == 2 and "Ben" in wall.text
    stamp = wall.text.split('data-stamp="', 1)[1].split('"', 1)[0]
    unchanged = admin.get(f"/admin/classes/{code}/wall?since={stamp}", headers=admin.hx)
    assert unchanged.status_code == 204 and unchanged.data == b""
    class_draw(ana, code, "1")
    assert admin.get(f"/admin/classes/{code}/wall?since={stamp}", headers=admin.hx).status_code == 200


def test_the_board_counts_accuracy_confusion_and_the_digits_misread_most(app, admin):
    code = start_class(admin)
    ana = join_class(app, code, "Ana")
    reading = class_draw(ana, code, "7").text
    read = int(reading.split('data-testid="prediction">', 1)[1].split("<", 1)[0])
    wrong = (read + 1) % 10
    assert class_correct(ana, code, read).status_code == 200
    assert class_correct(ana, code, wrong).status_code == 200
    wall = admin.get(f"/admin/classes/{code}/wall", headers=admin.hx).text
    assert "50%" in wall and "of 2 labelled drawings" in wall
    assert f"<strong>{wrong}</strong> (1 of 1, often read as {read})" in wall


def test_a_close_up_shows_the_drawing_large_with_its_bars_and_explanation(app, admin):
    code = start_class(admin)
    ana = join_class(app, code, "Ana")
    class_draw(ana, code, "7")
    with app.app_context():
        student_id = db.session.scalar(select(ClassStudent.id))
    close = admin.get(f"/admin/classes/{code}/students/{student_id}", headers=admin.hx)
    assert close.status_code == 200
    assert 'data-testid="close-up-bars"' in close.text and 'class="unit' in close.text
    assert 'data-testid="why-picture"' in close.text          # and its explanation
    assert admin.get(f"/admin/classes/{code}/students/{student_id + 99}",
                     headers=admin.hx).status_code == 404


@pytest.mark.parametrize("nickname, why", [
    ("x" * 21, "at most 20"),
    ("<b>Ana</b>", "leave out"),
    ("<script>alert(1)</script>", "leave out"),
    ("Ana & Ben", "leave out"),
    ('Ana" onmouseover="x', "leave out"),
    (["Ana", "Ben"], "more than once"),
])
def test_a_bad_nickname_is_refused_and_nothing_is_stored(app, admin, nickname, why):
    code = start_class(admin)
    student = browser(app)
    csrf = token(student, f"/class/{code}")
    response = student.post(f"/class/{code}/join", data={"nickname": nickname, "csrf_token": csrf})
    assert response.status_code == 400 and why in response.text
    assert "<b>Ana" not in response.text and "<script>alert" not in response.text
    assert count(app, ClassStudent) == 0
    assert student.get(f"/class/{code}/draw").status_code == 403


def test_a_wrong_code_is_a_404_and_stores_nothing(app, admin):
    start_class(admin)
    student = browser(app)
    assert student.get("/join?code=NOPE42").status_code == 404
    assert student.get("/class/NOPE42").status_code == 404
    csrf = token(student, "/join")
    assert student.post("/class/NOPE42/join", data={"csrf_token": csrf}).status_code == 404
    assert student.post("/class/NOPE42/predict", headers={**HX, "X-CSRFToken": csrf}).status_code == 404
    assert count(app, ClassStudent) == 0


def test_an_ended_class_says_so_and_takes_nothing_more(app, admin):
    code = start_class(admin)
    ana = join_class(app, code, "Ana")
    assert ana.get(f"/class/{code}/status").status_code == 204
    newcomer = browser(app)
    csrf = token(newcomer, f"/class/{code}")
    end = admin.post(f"/admin/classes/{code}/end", data={"csrf_token": token(admin, f"/admin/classes/{code}/")})
    assert end.status_code == 302
    status = ana.get(f"/class/{code}/status", headers=HX)
    assert status.status_code == 286 and "has ended" in status.text       # 286: htmx stops polling
    assert ana.get(f"/class/{code}/draw").status_code == 410
    assert "has ended" in ana.get(f"/class/{code}/draw").text
    assert class_draw(ana, code).status_code == 410
    assert class_correct(ana, code, 7).status_code == 410
    assert newcomer.post(f"/class/{code}/join", data={"csrf_token": csrf}).status_code == 410
    assert count(app, ClassStudent) == 1 and count(app, Sample) == 0
    assert "ended" in admin.get(f"/admin/classes/{code}/").text


def test_a_class_is_over_after_its_set_time(app, admin):
    code = start_class(admin, minutes="5")
    ana = join_class(app, code)
    with app.app_context():
        db.session.execute(update(Classroom).values(ends_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert class_draw(ana, code).status_code == 410
    assert ana.get(f"/class/{code}/status").status_code == 286


@pytest.mark.parametrize("minutes", ["0", "481", "ten", "4.5", ""])
def test_a_bad_lesson_length_is_refused(app, admin, minutes):
    response = admin.post("/admin/classes/", data={"name": "x", "minutes": minutes or " ",
                                                   "csrf_token": token(admin, "/admin/classes/")})
    assert response.status_code == 400 and "minutes" in response.text
    assert count(app, Classroom) == 0


TEACHER_ROUTES = [("GET", "/"), ("GET", "/board"), ("GET", "/wall"), ("GET", "/corrections"),
                  ("GET", "/students/1"), ("GET", "/samples/1"), ("POST", "/samples/1"),
                  ("GET", "/teach"), ("POST", "/teach"), ("POST", "/end"), ("POST", "/delete"),
                  ("POST", "/language"), ("POST", "/shared/abc"), ("GET", "/drawings.zip"),
                  ("GET", "/model.npz")]


@pytest.mark.parametrize("method, path", TEACHER_ROUTES)
def test_every_teacher_route_refuses_anyone_but_the_teacher(app, admin, method, path):
    code = start_class(admin)
    ana = join_class(app, code, "Ana")
    class_correct(ana, code, 7)
    anonymous = browser(app)
    anonymous.hx = {**HX, "X-CSRFToken": token(anonymous, "/join")}     # a token of its own
    for who in (anonymous, ana):
        response = who.open(f"/admin/classes/{code}{path}", method=method, headers=who.hx,
                            data={"review": "rejected", "confirm": code} if method == "POST" else None)
        assert response.status_code == 401
        plain = who.open(f"/admin/classes/{code}{path}", method=method)
        assert plain.status_code in (302, 400, 401)
        if plain.status_code == 302:
            assert "/admin/login" in plain.location
    assert count(app, Classroom) == 1 and count(app, Sample, state="accepted") == 1
    with app.app_context():
        assert db.session.scalar(select(Classroom.ended)) is None
    assert anonymous.post("/admin/classes/", data={"name": "x"},
                          headers=anonymous.hx).status_code == 401


@pytest.mark.parametrize("method, path", [
    ("GET", "/draw"), ("POST", "/predict"), ("POST", "/corrections"), ("POST", "/share/1")])
def test_every_student_route_refuses_a_student_of_another_class(app, admin, method, path):
    ours, theirs = start_class(admin), start_class(admin, name="another")
    ana = join_class(app, ours, "Ana")
    class_correct(ana, ours, 7)
    outsider = join_class(app, theirs, "Zed")
    response = outsider.open(f"/class/{ours}{path}", method=method, headers=outsider.hx,
                             data={"image": "x", "label": "7"} if method == "POST" else None)
    assert response.status_code == 403 and "another class" in response.text
    assert browser(app).open(f"/class/{ours}{path}", method=method,
                             headers={**HX, "X-CSRFToken": outsider.hx["X-CSRFToken"]}
                             ).status_code in (400, 403)
    assert count(app, Sample) == 1


def test_state_changes_without_the_csrf_token_are_refused(app, admin):
    code = start_class(admin)
    ana = join_class(app, code, "Ana")
    class_correct(ana, code, 7)
    stranger = browser(app)
    stranger.get(f"/class/{code}")
    assert stranger.post(f"/class/{code}/join", data={"nickname": "x"}).status_code == 400
    bare = {**HX}
    assert ana.post(f"/class/{code}/predict", headers=bare, data={"image": "x"}).status_code == 400
    assert ana.post(f"/class/{code}/corrections", headers=bare,
                    data={"label": "7"}).status_code == 400
    assert ana.post(f"/class/{code}/share/1", headers=bare).status_code == 400
    for path, data in [("/end", {}), ("/delete", {"confirm": code}), ("/teach", {}),
                       ("/samples/1", {"review": "rejected"}), ("/language", {"language": "es"})]:
        assert admin.post(f"/admin/classes/{code}{path}", data=data,
                          headers=HX).status_code == 400, path
    assert admin.post("/admin/classes/", data={"name": "x"}).status_code == 400
    assert count(app, Classroom) == 1 and count(app, ClassStudent) == 1
    assert count(app, Sample, state="accepted") == 1
    with app.app_context():
        row = db.session.scalar(select(Classroom))
        assert row.ended is None and row.language is None


def test_a_cross_site_change_is_refused_even_with_a_token(app, admin):
    code = start_class(admin)
    response = admin.post(f"/admin/classes/{code}/end", headers={
        **admin.hx, "Sec-Fetch-Site": "cross-site", "Referer": HTTPS + "/admin/"})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(Classroom.ended)) is None


def test_students_behind_one_address_each_have_their_own_correction_limit(app, admin):
    app.config["SAMPLES_RATE_LIMIT"] = "2 per minute"
    code = start_class(admin)
    ana, ben = join_class(app, code, "Ana"), join_class(app, code, "Ben")   # one address
    assert [class_correct(ana, code, 7).status_code for _ in range(3)] == [200, 200, 429]
    assert class_correct(ben, code, 7).status_code == 200
    assert count(app, Sample) == 3
