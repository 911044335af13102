"""A class's data: review of its corrections, its own model, deleting all of it, downloads, sharing.

Deleting a class is checked against the database itself: every table that can
name the class, its students or their drawings is counted afterwards.
"""

import csv
import io
import zipfile

import pytest
from PIL import Image
from sqlalchemy import func, select, update

import model
from tests import images
from tests.support import (HX, browser, class_correct, class_draw, join_class, save_network,
                           start_class, token)
from webapp.classroom.models import ClassModels
from webapp.core import registry, samples
from webapp.core.db import (Classroom, ClassStudent, ModelVersion, Sample, SharedDrawing,
                            TrainingRun, db)
from webapp.teaching import runs
from webapp.teaching.settings import CLASS_TEACH


def rows(app, table, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(table).where(*where))


def the_class(app, code):
    with app.app_context():
        classroom = db.session.scalar(select(Classroom).where(Classroom.code == code))
        db.session.expunge(classroom)
        return classroom


def give_class_a_model(app, code, tmp_path, seed=7):
    """Register a network of its own as the class's model (as a teach run would); its number."""
    net, meta = model.load(save_network(tmp_path / f"class-{seed}.npz", seed=seed))
    with app.app_context():
        version = registry.register(net, meta, metrics={}, origin=f"class {code}")
        db.session.execute(update(Classroom).where(Classroom.code == code)
                           .values(model_version_id=version.id))
        db.session.commit()
        return version.id


def review(admin, code, sample_id, state):
    return admin.post(f"/admin/classes/{code}/samples/{sample_id}", headers=admin.hx,
                      data={"review": state})


def test_a_rejected_correction_leaves_the_scores_and_the_training_set(app, admin):
    code = start_class(admin)
    ana = join_class(app, code, "Ana")
    class_correct(ana, code, 7)
    class_correct(ana, code, 3, name="3")
    cid = the_class(app, code).id
    with app.app_context():
        first, second = db.session.scalars(select(Sample.id).order_by(Sample.id)).all()
        assert db.session.get(Sample, first).state == "accepted"   # a class's count as accepted
    listed = admin.get(f"/admin/classes/{code}/corrections", headers=admin.hx).text
    assert listed.count('data-testid="correction"') == 2
    rejected = review(admin, code, first, "rejected")
    assert rejected.status_code == 200 and 'data-review="rejected"' in rejected.text
    with app.app_context():
        assert db.session.get(Sample, first).state == "rejected"
        taught, held = samples.training_set(classroom_id=cid), samples.held_out_set(classroom_id=cid)
        assert len(taught[1]) + len(held[1]) == 1
        # The public's retrain never learns from a class's drawings: they are the class's.
        assert len(samples.training_set(include_new=True)[1]) + len(samples.held_out_set()[1]) == 0
    assert "of 1 labelled drawing" in admin.get(f"/admin/classes/{code}/wall", headers=admin.hx).text
    assert review(admin, code, first, "accepted").status_code == 200
    assert review(admin, code, first, "maybe").status_code == 400
    assert review(admin, code, second + 10, "rejected").status_code == 404


def test_the_class_model_reads_for_the_class_only(app, admin, tmp_path):
    code = start_class(admin)
    ana = join_class(app, code, "Ana")
    assert 'data-model="1"' in class_draw(ana, code).text
    version = give_class_a_model(app, code, tmp_path)
    assert f'data-model="{version}"' in class_draw(ana, code).text
    assert f"Model version {version}" in ana.get(f"/class/{code}/draw").text
    public = browser(app)
    page = public.post("/predict", headers=HX, data={
        "image": images.data_url(images.drawing("7"))})
    assert 'data-model="1"' in page.text
    class_correct(ana, code, 7)
    with app.app_context():
        assert db.session.scalar(select(Sample.model_version)) == version
    assert admin.get(f"/admin/classes/{code}/model.npz").data == the_weights(app, version)


def the_weights(app, version):
    with app.app_context():
        return db.session.get(ModelVersion, version).weights


def test_each_process_keeps_a_bounded_number_of_class_models(app, tmp_path):
    models = ClassModels(check_seconds=0, kept=2)
    with app.app_context():
        numbers = []
        for seed in (2, 3, 4):
            net, meta = model.load(save_network(tmp_path / f"{seed}.npz", seed=seed))
            numbers.append(registry.register(net, meta, metrics={}, origin="test").id)
        first = models.loaded(numbers[0])
        assert models.loaded(numbers[0]) is first                     # kept, not reloaded
        models.loaded(numbers[1])
        models.loaded(numbers[0])                                     # used again: kept
        models.loaded(numbers[2])
        assert models.kept_versions() == [numbers[0], numbers[2]]
        assert models.loaded(numbers[1]).version == numbers[1]


def test_a_class_follows_a_new_model_and_its_end_within_the_check_interval(app, admin, tmp_path):
    code = start_class(admin)
    models = ClassModels(check_seconds=3600, kept=2)
    with app.app_context():
        assert models.state(code).model_version_id is None
        give_class_a_model(app, code, tmp_path)
        assert models.state(code).model_version_id is None            # not looked again yet
        models.forget(code)
        assert models.state(code).model_version_id is not None
        assert ClassModels(check_seconds=0, kept=2).state(code).model_version_id is not None


def full_class(app, admin, tmp_path):
    """A class with two students, drawings on the board, corrections, a shared link, a teach
    run and a model of its own; its code."""
    code = start_class(admin)
    ana, ben = join_class(app, code, "Ana"), join_class(app, code, "Ben")
    for student in (ana, ben):
        class_draw(student, code)
        class_correct(student, code, 7)
    with app.app_context():
        sample_id = db.session.scalar(select(Sample.id).where(Sample.student_id.is_not(None))
                                      .order_by(Sample.id))
    assert ana.post(f"/class/{code}/share/{sample_id}", headers=ana.hx).status_code == 200
    version = give_class_a_model(app, code, tmp_path)
    with app.app_context():
        run = runs.start(CLASS_TEACH, enqueue=False, classroom_id=the_class(app, code).id)
        runs.finish(run.id, "succeeded", version_id=version)
    return code


def test_deleting_a_class_removes_every_row_of_it(app, admin, tmp_path):
    public = browser(app)
    public.post("/corrections", headers={**HX, "X-CSRFToken": token(public, "/")}, data={
        "image": images.data_url(images.drawing("7")), "label": "7"})
    assert rows(app, Sample) == 1
    code = full_class(app, admin, tmp_path)
    cid = the_class(app, code).id
    assert rows(app, ClassStudent) == 2 and rows(app, Sample) == 3
    assert rows(app, SharedDrawing) == 1 and rows(app, TrainingRun) == 1
    versions = rows(app, ModelVersion)
    refused = admin.post(f"/admin/classes/{code}/delete", data={
        "confirm": "nope", "csrf_token": token(admin, f"/admin/classes/{code}/")})
    assert refused.status_code == 400 and rows(app, Classroom) == 1
    done = admin.post(f"/admin/classes/{code}/delete", data={
        "confirm": code.lower(), "csrf_token": token(admin, f"/admin/classes/{code}/")})
    assert done.status_code == 302
    assert rows(app, Classroom) == 0 and rows(app, ClassStudent) == 0
    assert rows(app, Sample, Sample.classroom_id == cid) == 0 and rows(app, Sample) == 1
    assert rows(app, Sample, Sample.student_id.is_not(None)) == 0
    assert rows(app, SharedDrawing) == 0 and rows(app, TrainingRun) == 0
    assert rows(app, ModelVersion) == versions - 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ModelVersion)
                                 .where(ModelVersion.origin.like(f"%{code}%"))) == 0
    assert admin.get(f"/admin/classes/{code}/").status_code == 404


def test_deleting_a_class_keeps_its_model_if_it_was_promoted(app, admin, tmp_path):
    code = full_class(app, admin, tmp_path)
    version = the_class(app, code).model_version_id
    with app.app_context():
        registry.promote(version, force=True)
    admin.post(f"/admin/classes/{code}/delete", data={
        "confirm": code, "csrf_token": token(admin, f"/admin/classes/{code}/")})
    assert rows(app, Classroom) == 0 and rows(app, Sample, Sample.classroom_id.is_not(None)) == 0
    with app.app_context():
        kept = db.session.get(ModelVersion, version)
        assert kept is not None and code not in kept.origin


def test_the_drawings_download_as_pngs_with_a_labels_csv(app, admin, tmp_path):
    code = start_class(admin)
    assert admin.get(f"/admin/classes/{code}/model.npz").status_code == 404
    ana = join_class(app, code, "Ana")
    class_correct(ana, code, 7)
    class_correct(ana, code, 3, name="3")
    response = admin.get(f"/admin/classes/{code}/drawings.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    table = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
    assert [row["label"] for row in table] == ["7", "3"]
    assert "Ana" not in archive.read("labels.csv").decode()
    for row in table:
        assert Image.open(io.BytesIO(archive.read(row["file"]))).size == (28, 28)


def test_a_shared_drawing_is_seen_by_the_class_until_the_teacher_publishes_it(app, admin):
    code, other = start_class(admin), start_class(admin, name="other")
    ana, ben = join_class(app, code, "Ana"), join_class(app, code, "Ben")
    outsider = join_class(app, other, "Zed")
    class_correct(ana, code, 7)
    class_correct(ben, code, 7)
    with app.app_context():
        ana_sample, ben_sample = db.session.scalars(select(Sample.id).order_by(Sample.id)).all()
    assert ana.post(f"/class/{code}/share/{ben_sample}", headers=ana.hx).status_code == 403
    shared = ana.post(f"/class/{code}/share/{ana_sample}", headers=ana.hx)
    assert shared.status_code == 200
    link = shared.text.split('href="', 1)[1].split('"', 1)[0]
    assert f"/class/{code}/shared/" in link
    for viewer in (ana, ben, admin):
        page = viewer.get(link)
        assert page.status_code == 200 and "Model version 1" in page.text
        assert 'data-testid="close-up-bars"' in page.text
        assert 'data-testid="why-picture"' in page.text
    assert outsider.get(link).status_code == 403
    assert browser(app).get(link).status_code == 403
    token_part = link.rsplit("/", 1)[1]
    published = admin.post(f"/admin/classes/{code}/shared/{token_part}", data={
        "published": "1", "csrf_token": token(admin, f"/admin/classes/{code}/")})
    assert published.status_code == 302
    assert browser(app).get(link).status_code == 200
    assert browser(app).get(link[:-2] + "zz").status_code == 404


@pytest.mark.parametrize("language, status", [("es", 302), ("zh_Hans", 302), ("", 302),
                                              ("<b>", 400), ("english please", 400)])
def test_the_teacher_sets_the_class_language(app, admin, language, status):
    code = start_class(admin)
    response = admin.post(f"/admin/classes/{code}/language", data={
        "language": language, "csrf_token": token(admin, f"/admin/classes/{code}/")})
    assert response.status_code == status
    assert the_class(app, code).language == (language or None if status == 302 else None)


def test_teach_is_refused_while_there_is_nothing_to_learn_from(app, admin):
    code = start_class(admin)
    response = admin.post(f"/admin/classes/{code}/teach", headers=admin.hx)
    assert response.status_code == 409 and "nothing to learn from" in response.text
    assert rows(app, TrainingRun) == 0
