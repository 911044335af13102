"""Training on MNIST plus generated drawings of the world's digit forms (issue #7).

Glue only: it loads MNIST, takes drawings from ``webapp.forms`` and calls
``model.train.train`` with them as ``extra``; the recipe goes into the saved
model's metadata. Until ``digits train`` grows a ``--forms N`` option this is
how the shipped model is made:

    python -m webapp.forms_training --drawings 6000 --epochs 150 --out model/pretrained.npz
"""

import argparse
import sys
import time
from datetime import datetime, timezone

import model
from model import mnist, train
from webapp import forms

DRAWING_SEED = 1      # training drawings; evaluation uses other seeds (bench/forms.py)


def train_with_forms(out, drawings=6000, epochs=150, seed=0, traditions=None, exclude=(),
                     data_dir=None, log=print):
    """Train the shipped configuration on MNIST + ``drawings`` generated digits; save to ``out``.

    ``traditions``/``exclude`` choose the forms drawn (``model.strokes.select``).
    Returns ``(net, metadata)``; the metadata holds the whole recipe and the
    MNIST test accuracy.
    """
    config = train.TrainConfig(epochs=epochs, seed=seed)
    data = mnist.load(data_dir, download=True)
    start = time.perf_counter()
    images, labels, _ = forms.drawings(drawings, DRAWING_SEED, traditions, exclude)
    log(f"{drawings} drawings ready in {time.perf_counter() - start:.0f} s")

    def on_epoch(r, _net):
        log(f"epoch {r['epoch']:3d}  eta {r['eta']:.4f}  loss {r['loss']:.4f}  "
            f"train {r['train_accuracy']:.4f}  val {r['val_accuracy']:.4f}  {r['seconds']:.1f}s")

    net, history = train.train(config, data, on_epoch, extra=(images, labels))
    test = train.evaluate(net, model.inputs(net, data["test_images"]), data["test_labels"])
    best = max(history, key=lambda r: r["val_accuracy"])
    metadata = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "preprocessing": {"input": "28x28 MNIST-normalised, white ink on black, in [0, 1]"},
        "training": {**train.config_dict(config),
                     "data": "MNIST training set (last 5,000 for validation) + generated drawings",
                     "forms": {"drawings": drawings, "seed": DRAWING_SEED,
                               "traditions": sorted(traditions) if traditions else "all",
                               "exclude": sorted(exclude),
                               "generator": "model.strokes + model.canvas, read by "
                                            "webapp.preprocess (webapp.forms.drawings)"}},
        "metrics": {"test_accuracy": test["accuracy"], "test_loss": test["loss"],
                    "best_epoch": best["epoch"], "val_accuracy": best["val_accuracy"]},
        "history": history,
        "data_sha256": data["sha256"],
        "command": "python -m webapp.forms_training " + " ".join(sys.argv[1:]),
    }
    model.save(out, net, metadata)
    log(f"test accuracy {test['accuracy']:.4f} (best validation {best['val_accuracy']:.4f} at "
        f"epoch {best['epoch']}); saved {out}")
    return net, metadata


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drawings", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exclude", nargs="*", default=[], help="traditions to leave out")
    parser.add_argument("--data-dir")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    train_with_forms(args.out, args.drawings, args.epochs, args.seed, exclude=args.exclude,
                     data_dir=args.data_dir, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    main()
