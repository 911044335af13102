"""The model that ships in the repo: loads cleanly, and reads MNIST's test set at >= 99.0 %."""

import json
from pathlib import Path

import numpy as np
import pytest

import model
from model import mnist, train
from tests.support import DATA_DIR, needs_data

FIXTURES = Path(__file__).parent / "fixtures"


def test_shipped_model_shape_and_metadata(shipped):
    net, meta = shipped
    assert net.sizes[0] == 784 and net.sizes[-1] == 10
    # One hidden layer whose bars fit: 800 units are a 29×28 grid of 13 px cells on the page.
    assert len(net.sizes) == 3 and net.sizes[1] <= 800
    assert net.activation == "sigmoid"
    assert net.deskew is True and meta["preprocessing"]["deskew"] is True
    assert meta["data_sha256"] == {name: sha for name, sha in mnist.FILES.values()}
    # Trained on MNIST plus generated drawings of the world's digit forms (issue #7), with
    # ``digits train --forms N`` (first with the stop-gap script it replaced): the metadata
    # holds the drawings' recipe.
    assert meta["command"].startswith(("digits train", "python -m webapp.forms_training"))
    assert meta["training"]["forms"]["drawings"] > 0
    assert {"test_accuracy", "best_epoch"} <= set(meta["metrics"])


def test_shipped_model_on_fixture(shipped):
    net, meta = shipped
    images = mnist.read_idx(FIXTURES / "t10k-500-images-idx3-ubyte.gz")
    labels = mnist.read_idx(FIXTURES / "t10k-500-labels-idx1-ubyte.gz")
    X = model.inputs(net, images)
    assert train.measure(net, X, labels)["accuracy"] >= 0.98


@needs_data
def test_shipped_model_reaches_99_percent_on_full_test_set(runner):
    result = json.loads(runner.invoke(args=["evaluate", "--json", "--data-dir", DATA_DIR]).output)
    assert result["n"] == 10000
    assert result["accuracy"] >= 0.990
    assert len(result["per_class"]) == 10 and min(result["per_class"]) > 0.97
    confusion = np.array(result["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 10000
    assert np.trace(confusion) / 10000 == pytest.approx(result["accuracy"])
