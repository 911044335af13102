"""The ``digits`` command: train, evaluate, bench and serve.

    digits train --hidden 256 --epochs 60 --out model/pretrained.npz
    digits evaluate [MODEL] [--json]
    digits bench
    digits serve [--host 127.0.0.1] [--port 8000] [--workers 2]
"""

import argparse
import json
import os
import sys
from datetime import datetime, timezone

import model
from model import mnist, styles


def _data(args):
    try:
        return mnist.load(args.data_dir, download=args.download)
    except mnist.DataError as exc:
        sys.exit(f"digits: {exc}")


def _add_data_options(parser):
    parser.add_argument("--data-dir", help="directory with the four MNIST idx .gz files "
                        "(default: $DIGITS_DATA_DIR, else ~/.cache/digits/mnist)")
    parser.add_argument("--no-download", dest="download", action="store_false",
                        help="never fetch missing MNIST files (by default they are downloaded "
                        "from public mirrors, or $DIGITS_MNIST_MIRROR, and SHA-256 checked)")


def cmd_train(args):
    from tqdm import tqdm

    from model import train

    config = train.TrainConfig(
        hidden=tuple(args.hidden), activation=args.activation, epochs=args.epochs,
        batch_size=args.batch_size, eta=args.eta, momentum=args.momentum,
        weight_decay=args.weight_decay, schedule=args.schedule, augment=args.augment,
        deskew=args.deskew, seed=args.seed)
    data = _data(args)
    bar = tqdm(total=config.epochs, unit="epoch", desc="training")

    def on_epoch(r):
        bar.set_postfix(loss=f"{r['loss']:.4f}", train=f"{r['train_accuracy']:.4f}",
                        val=f"{r['val_accuracy']:.4f}", s=f"{r['seconds']:.1f}")
        bar.write(f"epoch {r['epoch']:3d}  eta {r['eta']:.4f}  loss {r['loss']:.4f}  "
                  f"train {r['train_accuracy']:.4f}  val {r['val_accuracy']:.4f}  "
                  f"{r['seconds']:.1f}s")
        bar.update()

    net, history = train.train(config, data, on_epoch=on_epoch)
    bar.close()
    test = train.evaluate(net, model.prepare(data["test_images"], config.deskew),
                          data["test_labels"])
    best = max(history, key=lambda r: r["val_accuracy"])
    metadata = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "preprocessing": {"deskew": config.deskew, "input": "28x28 MNIST-normalised, "
                          "white ink on black, scaled to [0, 1]"},
        "training": train.config_dict(config),
        "metrics": {"test_accuracy": test["accuracy"], "test_loss": test["loss"],
                    "best_epoch": best["epoch"], "val_accuracy": best["val_accuracy"]},
        "history": history,
        "data_sha256": data["sha256"],
        "command": "digits " + " ".join(sys.argv[1:]),
    }
    model.save(args.out, net, metadata)
    print(f"test accuracy {test['accuracy']:.4f} (best validation {best['val_accuracy']:.4f} "
          f"at epoch {best['epoch']}); saved {args.out}")


def cmd_evaluate(args):
    from model import train

    try:
        net, meta = model.load(args.model)
    except model.CheckpointError as exc:
        sys.exit(f"digits: {exc}")
    data = _data(args)
    deskew = meta.get("preprocessing", {}).get("deskew", False)
    result = train.evaluate(net, model.prepare(data["test_images"], deskew), data["test_labels"])
    confusion = result["confusion"]
    per_class = (confusion.diagonal() / confusion.sum(axis=1)).tolist()
    upright = model.prepare(data["test_images"]).reshape(-1, 28, 28)
    styled = {name: float((net.predict(model.prepare(images, deskew)) == digit).mean())
              for name, (images, digit) in styles.styled_sets(upright, data["test_labels"]).items()}
    if args.json:
        print(json.dumps({"model": str(args.model), "accuracy": result["accuracy"],
                          "loss": result["loss"], "per_class": per_class,
                          "confusion": confusion.tolist(), "n": int(confusion.sum()),
                          "styles": styled}))
        return
    print(f"model {args.model}: {net.sizes} {net.activation}, deskew={deskew}")
    print(f"test accuracy {result['accuracy']:.4f} on {confusion.sum()} images "
          f"(mean cross-entropy {result['loss']:.4f})")
    print("per class: " + "  ".join(f"{d}: {a:.4f}" for d, a in enumerate(per_class)))
    print("confusion (rows: true digit, columns: predicted)")
    print("     " + "".join(f"{d:>6d}" for d in range(10)))
    for d, row in enumerate(confusion):
        print(f"{d:>5d}" + "".join(f"{v:>6d}" for v in row))
    print("test digits redrawn in styles MNIST rarely has (model/styles.py):")
    for name, accuracy in styled.items():
        print(f"  {name:<22s} {accuracy:.4f}")


def cmd_bench(args):
    from model import bench

    bench.main(args)


def gunicorn_args(host, port, workers, app="webapp:create_app()"):
    """gunicorn's arguments for ``digits serve``; the web benchmark serves its baseline alike."""
    return ["--bind", f"{host}:{port}", "--workers", str(workers), "--access-logfile", "-", app]


def cmd_serve(args):
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", *gunicorn_args(args.host, args.port, args.workers)]
    run()


def build_parser():
    parser = argparse.ArgumentParser(prog="digits", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a network on MNIST and save it")
    p.add_argument("--hidden", type=int, nargs="+", default=[256],
                   help="hidden layer sizes (default: 256)")
    p.add_argument("--activation", choices=["sigmoid", "relu"], default="sigmoid")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--eta", type=float, default=0.5, help="peak learning rate")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-5)
    p.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    p.add_argument("--no-augment", dest="augment", action="store_false",
                   help="train on the plain images (default: augmented)")
    p.add_argument("--no-deskew", dest="deskew", action="store_false")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="model.npz", help="where to write the model")
    _add_data_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test-set accuracy, per class, and confusion matrix")
    p.add_argument("model", nargs="?", default=str(model.PRETRAINED),
                   help="model file (default: the shipped model)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_data_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("bench", help="seconds per epoch against PyTorch, share of GEMM peak")
    _add_data_options(p)
    p.add_argument("--epochs", type=int, default=5, help="timed epochs per contender")
    p.add_argument("--threads", type=int, help="BLAS and PyTorch threads (default: NumPy's "
                   "BLAS setting; needs threadpoolctl)")
    p.add_argument("--no-torch", dest="torch", action="store_false",
                   help="time NumPy only, even if PyTorch is installed")
    p.add_argument("--reference", type=int, nargs="?", const=3840, default=0, metavar="SAMPLES",
                   help="also time the seed's per-sample loop on SAMPLES images (default "
                   "3840) and extrapolate to an epoch")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("serve", help="run the web app under gunicorn")
    p.add_argument("--host", default=os.environ.get("DIGITS_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("DIGITS_PORT", "8000")))
    p.add_argument("--workers", type=int, default=int(os.environ.get("DIGITS_WORKERS", "2")))
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
