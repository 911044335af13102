"""Checkpoints: round trip, atomic publication, and refusal of anything malformed."""

import io
import json

import numpy as np
import pytest

import model
from model import checkpoint


def small_net(dtype=np.float32):
    return model.Network([784, 16, 10], dtype=dtype, seed=3)


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    net = small_net()
    path = model.save(tmp_path / "m.npz", net, {"note": "x"})
    loaded, meta = model.load(path)
    assert loaded.sizes == [784, 16, 10] and loaded.activation == "sigmoid"
    for a, b in zip(net.weights + net.biases, loaded.weights + loaded.biases):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert meta["note"] == "x" and meta["preprocessing"]["deskew"] is True
    X = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    assert np.array_equal(net.feedforward(X), loaded.feedforward(X))


def test_save_replaces_atomically_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "m.npz"
    model.save(path, small_net())
    model.save(path, model.Network([784, 8, 10]))
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    assert model.load(path)[0].sizes == [784, 8, 10]


def test_float64_round_trip(tmp_path):
    net, _ = model.load(model.save(tmp_path / "m.npz", small_net(np.float64)))
    assert net.weights[0].dtype == np.float64


def write_npz(path, **arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return path


def arrays_of(net, meta_changes=None, **replace):
    meta = {"format": checkpoint.FORMAT, "sizes": net.sizes, "activation": "sigmoid",
            "cost": "cross_entropy", "dtype": "float32", "preprocessing": {"deskew": True},
            **(meta_changes or {})}
    arrays = {"w0": net.weights[0], "b0": net.biases[0], "w1": net.weights[1],
              "b1": net.biases[1],
              "metadata": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    arrays.update(replace)
    return {k: v for k, v in arrays.items() if v is not None}


@pytest.mark.parametrize("case, match", [
    (lambda n: arrays_of(n, w0=np.zeros((784, 15), np.float32)), "shape"),
    (lambda n: arrays_of(n, b1=np.full(10, np.nan, np.float32)), "NaN"),
    (lambda n: arrays_of(n, w1=n.weights[1].astype(np.float64)), "float64"),
    (lambda n: arrays_of(n, b1=None), "do not match"),
    (lambda n: arrays_of(n, metadata=None), "no metadata"),
    (lambda n: arrays_of(n, metadata=np.frombuffer(b"{not json", np.uint8)), "JSON"),
    (lambda n: arrays_of(n, {"activation": "tanh"}), "activation"),
    (lambda n: arrays_of(n, {"sizes": [784, -1, 10]}), "sizes"),
    (lambda n: arrays_of(n, {"format": "other"}), "format"),
    (lambda n: arrays_of(n, {"preprocessing": None}), "input contract"),
    (lambda n: arrays_of(n, {"preprocessing": {"deskew": "yes"}}), "input contract"),
    (lambda n: arrays_of(n, w0=np.array([{"evil": 1}], dtype=object)), "readable"),
])
def test_malformed_checkpoints_are_refused(tmp_path, case, match):
    path = write_npz(tmp_path / "bad.npz", **case(small_net()))
    with pytest.raises(model.CheckpointError, match=match):
        model.load(path)


@pytest.mark.parametrize("content", [b"", b"not a zip file", b"PK\x03\x04truncated"])
def test_garbage_files_are_refused(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(model.CheckpointError, match="bad.npz"):
        model.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(model.CheckpointError, match="no such model file"):
        model.load(tmp_path / "absent.npz")


@pytest.mark.parametrize("deskew", [True, False])
def test_the_input_contract_travels_with_the_weights(tmp_path, deskew):
    net = model.Network([784, 16, 10], seed=3, deskew=deskew)
    loaded, meta = model.load(model.save(tmp_path / "m.npz", net))
    assert loaded.deskew is deskew and meta["preprocessing"]["deskew"] is deskew
    # The caller's metadata cannot contradict the network's own contract.
    loaded, _ = model.loads(model.dumps(net, {"preprocessing": {"deskew": not deskew}}))
    assert loaded.deskew is deskew


def test_inputs_apply_the_networks_own_preprocessing():
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 4:24, 10:13] = 255
    image[0, 4:24] = np.roll(image[0, 4:24], 0)
    slanted = np.stack([np.roll(row, i // 3) for i, row in enumerate(image[0])])[None]
    with_deskew = model.inputs(model.Network([784, 4, 10], deskew=True), slanted)
    without = model.inputs(model.Network([784, 4, 10], deskew=False), slanted)
    assert np.array_equal(without, slanted.reshape(1, -1) / np.float32(255))
    assert np.array_equal(with_deskew, model.prepare(slanted, True))
    assert not np.allclose(with_deskew, without)


def test_bytes_round_trip_and_garbage_bytes():
    net = small_net()
    loaded, _ = model.loads(model.dumps(net, {"note": "y"}))
    assert all(np.array_equal(a, b) for a, b in zip(net.weights, loaded.weights))
    with pytest.raises(model.CheckpointError, match="version 7"):
        model.loads(b"junk", name="version 7")
