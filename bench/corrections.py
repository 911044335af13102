"""Experiment (not a test): do users' corrections teach the network a handwriting style?

    python -m bench.corrections [--writers 40] [--base MODEL] [--json out.json]
    (make bench-corrections)

The whole loop as an operator runs it, in one process against a fresh
instance folder (SQLite, the app's own code paths):

1. The base model serves as version 1. It must be one that never saw these
   forms: by default the MNIST-only model that shipped before issue #7 (taken
   from git history), since the shipped model now trains on them.
2. ``--writers`` correction writers each draw every target form a few times
   (``model.strokes`` + ``model.canvas``, painted as the page's canvas paints,
   encoded as PNG) and send them with ``POST /api/v1/samples`` and the right
   label. Each writer has a hand of their own: one slant, one width, one pen
   speed for everything they write.
3. ``digits samples accept --all`` (corrections arrive new, for review), then
   ``digits retrain --include-samples`` with its defaults, then ``digits models promote N``.
4. Before and after: ``POST /api/v1/predict`` on fresh drawings of the same
   forms by other writers, made with other generating settings (other seeds,
   more jitter and tremor, the generator's full range of slant and size), and
   on the common forms (to see nothing else got worse); the MNIST test
   accuracy of both versions (from their metrics).
"""

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from model import canvas, strokes

TARGETS = ("7-hook-crossed", "7-arched-crossed", "1-tall-flag", "9-hook", "9-g",
           "4-open-one-stroke")
CONTROLS = ("7-plain", "1-stick", "9-straight", "4-closed", "2-plain", "3-round")
BEFORE_FORMS = "2abe765"      # the last commit whose shipped model trained on MNIST alone
CORRECTION_SEED, EVALUATION_SEED = 1000, 5000
# Other people, other settings: everything the generator varies, and shakier.
EVALUATION_VARIATION = replace(strokes.Variation(), jitter=0.045, tremor=(0.0, 0.006))


def png(luminance):
    buffer = io.BytesIO()
    Image.fromarray(luminance).save(buffer, "PNG")
    return buffer.getvalue()


def writer_variation(rng):
    """One writer's hand: a slant, width, size and pen speed of their own, a little jitter."""
    slant = rng.uniform(-0.1, 0.3)
    width = float(np.exp(rng.uniform(np.log(0.75), np.log(1.25))))
    height = rng.uniform(0.4, 0.8)
    speed = rng.uniform(0.006, 0.03)
    return replace(strokes.Variation(), jitter=0.03, slant=(slant - 0.04, slant + 0.04),
                   aspect=(width * 0.95, width * 1.05), height=(height - 0.05, height + 0.05),
                   spacing=(speed * 0.8, speed * 1.2))


def correction_drawings(writers, per_form):
    """[(png, label, form)] from ``writers`` correction writers, ``per_form`` of each target."""
    out = []
    for w in range(writers):
        rng = np.random.default_rng([CORRECTION_SEED, w])
        hand = writer_variation(rng)
        for name in TARGETS:
            form = strokes.BY_NAME[name]
            for _ in range(per_form):
                out.append((png(canvas.render(strokes.sample(form, rng, hand))), form.digit,
                            name))
    return out


def evaluation_drawings(names, n_per_form):
    """[(png, label, form)]: ``n_per_form`` drawings of each form by other writers."""
    out = []
    for i, name in enumerate(names):
        rng = np.random.default_rng([EVALUATION_SEED, i])
        form = strokes.BY_NAME[name]
        for _ in range(n_per_form):
            out.append((png(canvas.render(strokes.sample(form, rng, EVALUATION_VARIATION))),
                        form.digit, name))
    return out


def accuracy_by_form(client, drawings):
    """{form: accuracy} and the model version that answered, through ``POST /api/v1/predict``."""
    right, total, versions = {}, {}, set()
    for data, label, name in drawings:
        answer = client.post("/api/v1/predict", data=data, content_type="image/png").json
        versions.add(answer["model"]["version"])
        right[name] = right.get(name, 0) + (answer["digit"] == label)
        total[name] = total.get(name, 0) + 1
    return {name: right[name] / total[name] for name in total}, versions


def base_model(path, workdir):
    if path:
        return Path(path)
    out = Path(workdir) / "mnist-only.npz"
    try:
        out.write_bytes(subprocess.run(["git", "show", f"{BEFORE_FORMS}:model/pretrained.npz"],
                                       capture_output=True, check=True).stdout)
    except (OSError, subprocess.CalledProcessError):
        sys.exit("bench.corrections: no git history here to take the MNIST-only model from; "
                 "give one with --base (e.g. digits train --epochs 150 --out base.npz)")
    return out


def run(args):
    from webapp import create_app

    workdir = Path(tempfile.mkdtemp(prefix="digits-corrections-"))
    base = base_model(args.base, workdir)
    app = create_app({"SECRET_KEY": "experiment", "INSTANCE_PATH": str(workdir / "instance"),
                      "MODEL": str(base), "RATELIMIT_ENABLED": False,
                      "DATA_DIR": args.data_dir, "MODEL_CHECK_SECONDS": 0})
    client, cli = app.test_client(), app.test_cli_runner()
    started = time.perf_counter()
    targets = evaluation_drawings(TARGETS, args.eval)
    controls = evaluation_drawings(CONTROLS, args.eval)
    before, _ = accuracy_by_form(client, targets)
    before_controls, _ = accuracy_by_form(client, controls)

    corrections = correction_drawings(args.writers, args.per_form)
    held_out = 0
    for data, label, _ in corrections:
        answer = client.post(f"/api/v1/samples?label={label}", data=data,
                             content_type="image/png")
        assert answer.status_code == 201, answer.json
        held_out += answer.json["held_out"]
    print(f"sent {len(corrections)} corrections from {args.writers} writers "
          f"({held_out} held out by the app, never trained on)", flush=True)

    # Corrections arrive new, for review; these are honest, so accept them all (as an
    # operator would after looking), and the default retrain trains on them.
    accepted = cli.invoke(args=["samples", "accept", "--all"])
    print(accepted.output.strip(), flush=True)
    retrain_started = time.perf_counter()
    result = cli.invoke(args=["retrain", "--include-samples"])
    retrain_seconds = time.perf_counter() - retrain_started
    print(result.output, flush=True)
    if result.exit_code != 0:
        sys.exit(f"retrain failed: {result.output}")
    version = int(result.output.split("model version ")[1].split()[0])
    promoted = cli.invoke(args=["models", "promote", str(version)])
    print(promoted.output.strip(), flush=True)
    if promoted.exit_code != 0:
        promoted = cli.invoke(args=["models", "promote", str(version), "--force"])
        print("(forced) " + promoted.output.strip(), flush=True)

    after, versions = accuracy_by_form(client, targets)
    after_controls, _ = accuracy_by_form(client, controls)
    with app.app_context():
        from webapp.core import registry

        mnist_before = registry.get(1).metrics.get("test_accuracy")
        mnist_after = registry.get(version).metrics.get("test_accuracy")
    return {"writers": args.writers, "corrections": len(corrections), "held_out": held_out,
            "evaluation_per_form": args.eval, "version": version, "versions_answering": sorted(versions),
            "retrain_seconds": retrain_seconds, "seconds": time.perf_counter() - started,
            "before": before, "after": after, "before_controls": before_controls,
            "after_controls": after_controls,
            "targets_before": float(np.mean(list(before.values()))),
            "targets_after": float(np.mean(list(after.values()))),
            "mnist_before": mnist_before, "mnist_after": mnist_after}


def report(r):
    print(f"\n{r['corrections']} corrections from {r['writers']} writers; "
          f"evaluated on {r['evaluation_per_form']} fresh drawings per form by other writers")
    print("| form | before | after |\n| --- | --- | --- |")
    for name in TARGETS:
        print(f"| {name} | {r['before'][name]:.1%} | {r['after'][name]:.1%} |")
    print(f"| **these forms** | **{r['targets_before']:.1%}** | **{r['targets_after']:.1%}** |")
    for name in CONTROLS:
        print(f"| {name} (control) | {r['before_controls'][name]:.1%} | "
              f"{r['after_controls'][name]:.1%} |")
    print(f"| MNIST test set | {r['mnist_before']:.2%} | {r['mnist_after']:.2%} |")
    print(f"\nretrain (defaults, --include-samples): {r['retrain_seconds']:.0f} s; "
          f"version {r['version']} promoted; whole experiment {r['seconds']:.0f} s")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.corrections",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=40, help="correction writers")
    parser.add_argument("--per-form", type=int, default=2,
                        help="drawings of each target form per correction writer")
    parser.add_argument("--eval", type=int, default=100,
                        help="fresh drawings per form for the evaluation")
    parser.add_argument("--base", help="model to start from (default: the MNIST-only model "
                        f"of commit {BEFORE_FORMS})")
    parser.add_argument("--data-dir", help="MNIST directory (default: $DIGITS_DATA_DIR)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    result = run(args)
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
