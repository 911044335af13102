"""A class's "Teach it our handwriting" run, executed in-process as the training worker does.

The run fine-tunes the promoted model on the class's accepted corrections
(never a rejected one, nor another class's, nor the public's) with MNIST
replayed, measures before and after, and makes the result the class's
model without promoting it. Needs the full MNIST set (``$DIGITS_DATA_DIR``).
"""

from sqlalchemy import select, update

from tests.support import (DATA_DIR, class_correct, class_draw, join_class, needs_data,
                           start_class)
from webapp.core import registry
from webapp.core.db import Classroom, Sample, db
from webapp.teaching import runs, worker
from webapp.teaching.settings import CLASS_TEACH

DRAWN = [("7", 7), ("7-crossed", 7), ("3", 3), ("1-flag", 1), ("4", 4), ("9", 9), ("2", 2),
         ("5", 5)]


@needs_data
def test_teach_learns_from_the_class_alone_and_serves_the_class_only(app, admin):
    app.config["DATA_DIR"] = DATA_DIR
    code, other = start_class(admin), start_class(admin, name="other")
    ana, zed = join_class(app, code, "Ana"), join_class(app, other, "Zed")
    for name, label in DRAWN:
        assert class_correct(ana, code, label, name=name).status_code == 200
    class_correct(zed, other, 7)
    with app.app_context():
        db.session.execute(update(Sample).values(held_out=False))
        first = db.session.scalar(select(Sample.id).order_by(Sample.id))
        db.session.commit()
    admin.post(f"/admin/classes/{code}/samples/{first}", headers=admin.hx,
               data={"review": "rejected"})
    started = admin.post(f"/admin/classes/{code}/teach", headers=admin.hx)
    assert started.status_code == 200 and 'data-status="queued"' in started.text
    again = admin.post(f"/admin/classes/{code}/teach", headers=admin.hx)
    assert again.status_code == 409 and "already queued" in again.text
    with app.app_context():
        run_id = runs.latest().id
        done = worker.execute(run_id, data_dir=DATA_DIR)
        assert done.status == "succeeded", done.error
        results = done.results
        classroom = db.session.scalar(select(Classroom).where(Classroom.code == code))
        assert classroom.model_version_id == done.version_id
        assert registry.serving_id() == 1                   # never promoted
        assert registry.get(done.version_id).origin == f"class {code}"
        db.session.commit()
    assert results["trained_samples"] == len(DRAWN) - 1     # the rejected one left out
    assert results["taught"]["n"] == len(DRAWN) - 1
    assert 0.0 <= results["mnist"]["before"] <= 1 and 0.0 <= results["mnist"]["after"] <= 1
    assert results["mnist"]["n"] == 10_000 and results["held_out"]["n"] == 0
    panel = admin.get(f"/admin/classes/{code}/teach", headers=admin.hx).text
    assert 'data-testid="before-after"' in panel and "MNIST test set (10000)" in panel
    assert f'data-model="{done.version_id}"' in class_draw(ana, code).text
    assert 'data-model="1"' in class_draw(zed, other).text      # another class: the promoted
