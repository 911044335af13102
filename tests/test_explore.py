"""Results you can explore: a confusion-matrix cell, or a worst mistake, opens its digits."""

import re

import numpy as np

import model
from model import mnist
from tests import images
from tests.support import DATA_DIR, HX, measured_run, needs_data
from webapp.core import registry
from webapp.reading.corrections import add


def full_mnist():
    return mnist.load(DATA_DIR)


@needs_data
def test_every_cell_opens_as_many_test_digits_as_it_counts(app, admin):
    app.config["DATA_DIR"] = DATA_DIR
    data = full_mnist()
    run_id = measured_run(app, data)
    panel = admin.get(f"/admin/runs/{run_id}", headers=HX).text
    links = re.findall(r'data-testid="cell-(\d)-(\d)"', panel)
    assert len(links) > 10                    # every cell with digits in it is a link
    with app.app_context():
        net, _ = registry.load_version(registry.get(1))
    predicted = net.predict(model.inputs(net, data["test_images"]))
    for true, read in [links[0], links[1], links[-1]]:
        true, read = int(true), int(read)
        fragment = admin.get(f"/admin/runs/{run_id}/cell?true={true}&read={read}",
                             headers=HX).text
        count = int(((data["test_labels"] == true) & (predicted == read)).sum())
        assert f"MNIST test digits: {count}" in fragment
        assert fragment.count("<img") == min(count, 48)


@needs_data
def test_a_worst_mistake_opens_its_cell_with_the_drawings_behind_it(app, admin):
    app.config["DATA_DIR"] = DATA_DIR
    with app.test_request_context():
        app.config["HOLD_OUT_PERCENT"] = 0
        stored = [add(images.drawing(name), 7, source="api").pixels for name in ("7", "1", "4")]
    run_id = measured_run(app, full_mnist())
    panel = admin.get(f"/admin/runs/{run_id}", headers=HX).text
    href = re.search(r'<a href="([^"]+)"[^>]*data-testid="mistake-0"', panel, re.S).group(1)
    true, read = map(int, re.search(r"true=(\d)&amp;read=(\d)", href).groups())
    fragment = admin.get(href.replace("&amp;", "&"), headers=HX).text
    assert re.search(rf"Labelled <strong>{true}</strong>,\s+read as <strong>{read}</strong>",
                     fragment)
    # The collected 7s behind the cell "7 read as R", for each R the tiny model reads them as.
    with app.app_context():
        net, _ = registry.load_version(registry.get(1))
    pixels = np.stack([np.frombuffer(p, np.uint8).reshape(28, 28) for p in stored])
    reads = net.predict(model.inputs(net, pixels))
    for r in set(reads.tolist()):
        cell = admin.get(f"/admin/runs/{run_id}/cell?true=7&read={r}", headers=HX).text
        assert f"Collected drawings: {int((reads == r).sum())}" in cell


def test_without_mnist_the_cell_says_so_and_still_shows_the_drawings(app, admin, tmp_path):
    fixtures = {"test_images": mnist.read_idx("tests/fixtures/t10k-500-images-idx3-ubyte.gz"),
                "test_labels": mnist.read_idx("tests/fixtures/t10k-500-labels-idx1-ubyte.gz")}
    run_id = measured_run(app, fixtures)
    app.config["DATA_DIR"] = str(tmp_path / "none")
    fragment = admin.get(f"/admin/runs/{run_id}/cell?true=3&read=3", headers=HX).text
    assert "MNIST files missing" in fragment and "Collected drawings: 0" in fragment


def test_a_bad_cell_is_a_400_with_a_message(app, admin):
    fixtures = {"test_images": mnist.read_idx("tests/fixtures/t10k-500-images-idx3-ubyte.gz"),
                "test_labels": mnist.read_idx("tests/fixtures/t10k-500-labels-idx1-ubyte.gz")}
    run_id = measured_run(app, fixtures)
    response = admin.get(f"/admin/runs/{run_id}/cell?true=12&read=3", headers=HX)
    assert response.status_code == 400 and "true must be one digit" in response.text
    assert admin.get("/admin/runs/99/cell?true=1&read=3", headers=HX).status_code == 404
