"""Review states: public corrections arrive new, the operator's own arrive accepted, a default
retrain trains on accepted ones only, and "not a digit" is a label that never trains."""

import io
import re
import zipfile

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from tests import images
from tests.support import HTTPS, HX_FROM_PAGE, page_token
from webapp.core import samples
from webapp.core.db import MIGRATIONS, Sample, db
from webapp.reading import corrections
from webapp.teaching import settings as retrain


def post_sample(client, label="7", address="10.1.2.3", name="7"):
    return client.post(f"/api/v1/samples?label={label}", data=images.drawing(name),
                       content_type="image/png", environ_base={"REMOTE_ADDR": address})


def stored(app, sample_id):
    with app.app_context():
        sample = db.session.get(Sample, sample_id)
        db.session.expunge(sample)
        return sample


def add(app, label, state, held_out_percent=0, name="7"):
    app.config["HOLD_OUT_PERCENT"] = held_out_percent
    with app.test_request_context():
        return corrections.add(images.drawing(name), label, source="api", state=state).id


# -- states at arrival -------------------------------------------------------------------------

def test_an_api_sample_arrives_new_with_a_client_key_and_not_the_address(app, client):
    first = post_sample(client, address="10.1.2.3")
    assert first.status_code == 201 and first.json["state"] == "new"
    again, other = post_sample(client, address="10.1.2.3"), post_sample(client, address="10.9.9.9")
    a, b, c = (stored(app, r.json["id"]) for r in (first, again, other))
    assert a.state == "new" and re.fullmatch(r"[0-9a-f]{16}", a.client)
    assert a.client == b.client != c.client
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM samples")).all()
    assert not any("10.1.2.3" in str(value) for row in rows for value in row)


def test_a_correction_from_the_page_arrives_new(app, client):
    response = client.post("/corrections", base_url=HTTPS,
                           headers={**HX_FROM_PAGE, "X-CSRFToken": page_token(client)},
                           data={"image": images.data_url(images.drawing("7")), "label": "1"})
    assert response.status_code == 200
    with app.app_context():
        (sample,) = db.session.scalars(select(Sample)).all()
        assert sample.state == "new" and sample.client


def test_rows_stored_before_review_existed_become_accepted(app):
    with app.app_context():
        downgrade(directory=str(MIGRATIONS), revision="0ff5cbfbb878")
        db.session.execute(text(
            "INSERT INTO samples (created, label, source, upload, upload_type, pixels, held_out) "
            "VALUES (CURRENT_TIMESTAMP, 3, 'api', x'00', 'image/png', :pixels, 0)"),
            {"pixels": bytes(784)})
        db.session.commit()
        upgrade(directory=str(MIGRATIONS))
        (sample,) = db.session.scalars(select(Sample)).all()
        assert sample.state == "accepted" and sample.client is None
        assert samples.training_set()[1].tolist() == [3]


def test_the_state_is_chosen_at_store_time(app):
    sample_id = add(app, 4, samples.ACCEPTED)
    assert stored(app, sample_id).state == "accepted"
    with app.test_request_context(), pytest.raises(ValueError, match="state"):
        corrections.add(images.drawing("7"), 7, source="api", state="maybe")


# -- what trains -------------------------------------------------------------------------------

def test_a_default_retrain_trains_on_accepted_samples_only(app):
    accepted = add(app, 1, samples.ACCEPTED, name="1")
    add(app, 7, samples.NEW)
    add(app, 2, samples.REJECTED, name="2")
    add(app, samples.NOT_A_DIGIT, samples.ACCEPTED)
    held_new = add(app, 3, samples.NEW, held_out_percent=100, name="3")
    held_accepted = add(app, 4, samples.ACCEPTED, held_out_percent=100, name="4")
    with app.app_context():
        assert samples.training_set()[1].tolist() == [1]
        assert samples.training_set(include_new=True)[1].tolist() == [1, 7]
        assert samples.held_out_set()[1].tolist() == [4]
    assert retrain.FINE_TUNE.include_new is False and accepted and held_new and held_accepted


def test_include_new_is_a_form_setting_and_a_command_option(runner):
    chosen, errors = retrain.validate({"include_new": "on"})
    assert errors == {} and chosen.include_new is True
    assert retrain.validate({})[0].include_new is False
    assert "--include-new" in runner.invoke(args=["retrain", "--help"]).output
    # The command's options reach the run as the form's would (retrain_command: as_form, validate).
    assert retrain.validate(retrain.as_form({"include_new": True}, "serving"))[0].include_new
    assert not retrain.validate(retrain.as_form({"include_new": False}, "serving"))[0].include_new


def test_the_train_form_offers_include_new_unchecked(admin):
    page = admin.get("/admin/").text
    assert re.search(r'<input type="checkbox" name="include_new" value="1">', page)


# -- accept and reject from scripts ------------------------------------------------------------

def test_accept_all_and_reject_by_id_or_client(app, client, runner):
    ids = [post_sample(client, address=address).json["id"]
           for address in ("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3")]
    vandal = stored(app, ids[0]).client
    result = runner.invoke(args=["samples", "reject", "--client", vandal])
    assert result.exit_code == 0 and "rejected 2 samples" in result.output
    assert runner.invoke(args=["samples", "reject", str(ids[2])]).output == "rejected 1 sample\n"
    result = runner.invoke(args=["samples", "accept", "--all"])
    assert "accepted 1 sample" in result.output
    assert [stored(app, i).state for i in ids] == ["rejected", "rejected", "rejected", "accepted"]
    assert "new 0  accepted 1  rejected 3" in runner.invoke(args=["samples", "counts"]).output
    assert runner.invoke(args=["samples", "accept"]).exit_code == 2


# -- "not a digit" -----------------------------------------------------------------------------

def test_the_api_takes_none_as_not_a_digit(app, client):
    response = post_sample(client, label="none", name="scribble")
    assert response.status_code == 201 and response.json["label"] == "none"
    assert stored(app, response.json["id"]).label == samples.NOT_A_DIGIT
    assert post_sample(client, label="10").status_code == 400


def test_a_scribble_can_be_corrected_as_not_a_digit_on_the_page(app, client):
    fragment = client.post("/predict", data={"image": images.data_url(images.drawing("scribble"))},
                           headers=HX_FROM_PAGE).text
    assert 'name="label" value="none"' in fragment and "Not a digit" in fragment
    response = client.post("/corrections", base_url=HTTPS,
                           headers={**HX_FROM_PAGE, "X-CSRFToken": page_token(client)},
                           data={"image": images.data_url(images.drawing("scribble")),
                                 "label": "none"})
    assert response.status_code == 200 and "not a digit" in response.text
    with app.app_context():
        (sample,) = db.session.scalars(select(Sample)).all()
        assert sample.label == samples.NOT_A_DIGIT and sample.state == "new"
        assert samples.state_counts()["not_a_digit"] == 1


# -- imports: the operator's own drawings --------------------------------------------------------

def labelled_zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_samples_import_takes_folders_and_labels_csv_and_stores_them_accepted(app, runner,
                                                                               tmp_path):
    folder = tmp_path / "drawings"
    (folder / "7").mkdir(parents=True)
    (folder / "7" / "a.png").write_bytes(images.drawing("7"))
    (folder / "none").mkdir()
    (folder / "none" / "s.png").write_bytes(images.drawing("scribble"))
    (folder / "loose.png").write_bytes(images.drawing("3"))
    (folder / "blank.png").write_bytes(images.blank())
    (folder / "labels.csv").write_text("file,label\nloose.png,3\nblank.png,1\n")
    result = runner.invoke(args=["samples", "import", str(folder)])
    assert result.exit_code == 0, result.output
    assert "imported 3 drawings, skipped 1: blank.png:" in result.output
    zipped = tmp_path / "more.zip"
    zipped.write_bytes(labelled_zip({"1/x.png": images.drawing("1"), "y.png": images.drawing("1"),
                                     "1/bad.png": b"not a png"}))
    result = runner.invoke(args=["samples", "import", str(zipped)])
    assert "imported 1 drawing, skipped 2" in result.output and "y.png: no label" in result.output
    with app.app_context():
        rows = db.session.scalars(select(Sample).order_by(Sample.id)).all()
        assert [(s.label, s.state, s.source) for s in rows] == [
            (7, "accepted", "import"), (3, "accepted", "import"),
            (samples.NOT_A_DIGIT, "accepted", "import"), (1, "accepted", "import")]
    refused = runner.invoke(args=["samples", "import", str(folder / "labels.csv")])
    assert refused.exit_code == 1 and "not a zip file" in refused.output


def test_the_operators_uploads_in_the_admin_arrive_accepted(app, admin):
    one = admin.post("/admin/samples/import", headers=admin.hx,
                     data={"image": (io.BytesIO(images.drawing("7")), "seven.png"), "label": "7"})
    assert one.status_code == 200 and "imported, accepted." in one.text
    zipped = labelled_zip({"2/a.png": images.drawing("2"), "none/b.png": images.drawing("dots")})
    many = admin.post("/admin/samples/import", headers=admin.hx,
                      data={"image": (io.BytesIO(zipped), "drawings.zip")})
    assert many.status_code == 200 and "Imported 2 drawings." in many.text
    empty = admin.post("/admin/samples/import", headers=admin.hx,
                       data={"image": (io.BytesIO(b""), "empty.png"), "label": "1"})
    assert empty.status_code == 400 and "empty" in empty.text
    bad = admin.post("/admin/samples/import", headers=admin.hx,
                     data={"image": (io.BytesIO(b"GIF89a..."), "x.gif"), "label": "1"})
    assert bad.status_code == 415
    with app.app_context():
        rows = db.session.scalars(select(Sample).order_by(Sample.id)).all()
        assert [(s.label, s.state, s.source) for s in rows] == [
            (7, "accepted", "admin"), (2, "accepted", "admin"),
            (samples.NOT_A_DIGIT, "accepted", "admin")]
