"""The training loop: schedule, validation split, best-on-validation weights."""

from pathlib import Path

import numpy as np
import pytest

from model import mnist, train
from model.geometry import prepare

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def small_data():
    read = lambda name: mnist.read_idx(FIXTURES / name)  # noqa: E731
    return {"train_images": read("train-1000-images-idx3-ubyte.gz"),
            "train_labels": read("train-1000-labels-idx1-ubyte.gz"),
            "test_images": read("t10k-500-images-idx3-ubyte.gz"),
            "test_labels": read("t10k-500-labels-idx1-ubyte.gz")}


def test_cosine_schedule_warms_up_and_decays():
    config = train.TrainConfig(epochs=10, eta=0.5, warmup_epochs=1)
    assert train.learning_rate(config, 0) < 0.01
    assert train.learning_rate(config, 0.5) == pytest.approx(0.25, rel=0.01)
    assert train.learning_rate(config, 1) == pytest.approx(0.5)
    assert train.learning_rate(config, 5.5) == pytest.approx(0.25)
    assert train.learning_rate(config, 9.999) < 0.001
    constant = train.TrainConfig(epochs=10, eta=0.3, schedule="constant", warmup_epochs=0)
    assert train.learning_rate(constant, 7) == 0.3


@pytest.mark.parametrize("augment", [False, True])
def test_training_learns_and_keeps_best_validation_weights(small_data, augment):
    config = train.TrainConfig(hidden=(32,), epochs=8, batch_size=32, eta=0.5,
                               augment=augment, validation_size=200, seed=1)
    seen = []
    live = []
    net, history = train.train(config, small_data,
                               on_epoch=lambda r, n: (seen.append(r), live.append(n)))
    assert [r["epoch"] for r in history] == list(range(1, 9)) and seen == history
    assert all(n is live[0] for n in live)       # the network in training, every epoch
    assert history[-1]["loss"] < history[0]["loss"]
    best = max(r["val_accuracy"] for r in history)
    val_X = prepare(small_data["train_images"][-200:])
    assert train.measure(net, val_X, small_data["train_labels"][-200:])["accuracy"] == best
    test = train.measure(net, prepare(small_data["test_images"]), small_data["test_labels"])
    assert test["accuracy"] > 0.8
    assert test["confusion"].sum() == 500


def test_a_trained_network_carries_its_input_contract(small_data, tmp_path):
    import model

    config = train.TrainConfig(hidden=(8,), epochs=1, deskew=False, augment=False,
                               validation_size=200)
    net, _ = train.train(config, small_data)
    assert net.deskew is False
    assert model.load(model.save(tmp_path / "m.npz", net))[0].deskew is False


def test_extra_images_are_mixed_in_and_fine_tuning_starts_from_a_copy(small_data):
    config = train.TrainConfig(hidden=(16,), epochs=2, batch_size=32, augment=False,
                               validation_size=200, seed=2)
    start, _ = train.train(config, small_data)
    before = [w.copy() for w in start.weights]
    # A made-up digit: a bar at the top-left labelled 3, shown many times.
    bar = np.zeros((20, 28, 28), np.uint8)
    bar[:, 2:6, 2:20] = 255
    tuned_config = train.TrainConfig(hidden=(16,), epochs=3, batch_size=32, augment=False,
                                     validation_size=200, seed=2, extra_repeat=5, eta=0.2)
    tuned, history = train.train(tuned_config, small_data, extra=(bar, np.full(20, 3)),
                                 start=start)
    assert all(np.array_equal(a, b) for a, b in zip(before, start.weights))
    assert history[0]["val_accuracy"] > 0.7          # fine-tuning did not start from scratch
    assert (tuned.predict(prepare(bar[:3])) == 3).all()


def test_measure_confusion_matrix():
    class Fixed:
        def feedforward(self, X):
            return np.eye(10)[[0, 1, 1, 2]]
    result = train.measure(Fixed(), np.zeros((4, 784)), np.array([0, 1, 2, 2]))
    assert result["accuracy"] == 0.75
    assert result["confusion"][2].tolist() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    # Digits 3-9 have no images: "no digits" (None), not a division by zero.
    assert result["per_class"] == [1.0, 1.0, 0.5] + [None] * 7


def test_extra_images_are_learnt_alongside_mnist(small_data):
    """A shape MNIST never shows (a filled square), given as extra 3s, is read as a 3."""
    square = np.zeros((28, 28), dtype=np.uint8)
    square[8:20, 8:20] = 255
    extra = (np.repeat(square[None], 200, axis=0), np.full(200, 3))
    config = train.TrainConfig(hidden=(32,), epochs=6, batch_size=32, eta=0.5,
                               validation_size=200, seed=1)
    net, _ = train.train(config, small_data, extra=extra)
    assert net.feedforward(prepare(square[None]))[0, 3] > 0.9
    with pytest.raises(ValueError, match="labels"):
        train.train(config, small_data, extra=(extra[0], extra[1][:10]))


def test_check_between_mini_batches_can_stop_training(small_data):
    class Stop(Exception):
        pass

    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3:
            raise Stop

    config = train.TrainConfig(hidden=(8,), epochs=5, batch_size=8, augment=False,
                               validation_size=200)
    with pytest.raises(Stop):
        train.train(config, small_data, on_epoch=lambda r, n: pytest.fail("no epoch ends"),
                    check=check)
    assert len(calls) == 3      # 800 images in batches of 8: checked every 32 batches


def test_widening_keeps_what_the_network_reads_and_then_trains_the_new_units():
    net = train.fresh_network(train.TrainConfig(hidden=(8,), seed=1))
    wider = train.widen(net, 20, seed=2)
    X = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    assert wider.sizes == [784, 20, 10]
    assert np.allclose(wider.feedforward(X), net.feedforward(X), atol=1e-6)
    assert np.array_equal(wider.weights[0][:, :8], net.weights[0])
    Y = mnist.one_hot(np.arange(5))
    wider.update_mini_batch(X, Y, 0.5, 0.0, 0.0)
    assert np.abs(wider.weights[1][8:]).sum() > 0        # the new units' votes move
    with pytest.raises(ValueError, match="widen"):
        train.widen(net, 4)
