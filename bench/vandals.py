"""Experiment (not a test): can five vandals spoil the model, with the review queue in place?

    DIGITS_DATA_DIR=… python -m bench.vandals [--json out.json]     (make bench-vandals)

Against a real ``digits serve`` (the shipped model, a fresh instance folder,
``--proxies 1`` so each sender's address comes from ``X-Forwarded-For``; the
rate limit off: this measures the review, not the limit):

1. 500 honest corrections and 500 deliberately wrong labels, shuffled together,
   go to ``POST /api/v1/samples``. The drawings are real pen paths
   (``model.strokes`` forms, painted by ``model.canvas`` as the page paints).
   Honest: one class of 40 drawings behind one address (a burst, but honest) and
   46 visitors with 10 each, every label true. Wrong: 5 vandals, 100 each — one
   labels every digit as the next, one at random, one calls everything a 3, one
   sends 10 drawings 10 times with new labels, one sends scribbles labelled as
   digits.
2. The review queue's order (``teaching.review.ranked``, what /admin/review
   shows): precision of its top 500 (the share that are vandals'), and the time
   it takes to rank the 1,000.
3. Three retrains (``digits retrain``, fine-tuning the served model, each
   from version 1):
   - **defaults**, before anyone reviewed: accepted samples only;
   - **everything** (``--include-new``): what every retrain did before review;
   - **after review** as the queue suggests it (reject its top 500, accept the
     rest: ``digits samples reject``/``accept``), then the defaults again.
4. Each version's MNIST test accuracy (10,000 images), its accuracy on the 500
   honest drawings sent, and on 1,000 fresh honest drawings by other writers.
   The defaults' version is promoted and read through ``/api/v1/predict``, so
   the served model's own answers count.
"""

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

import model
from model import canvas, mnist, strokes

ROOT = Path(__file__).resolve().parent.parent
SEED = 1515
HONEST_CLASS, HONEST_VISITORS, PER_VISITOR = 40, 46, 10
VANDALS, PER_VANDAL = ("next", "random", "all-threes", "repeats", "scribbles"), 100
FRESH = 1000


def png(luminance):
    buffer = io.BytesIO()
    Image.fromarray(luminance).save(buffer, "PNG")
    return buffer.getvalue()


def hand(rng):
    """One writer's variation: a slant, width and pen speed of their own."""
    slant = rng.uniform(-0.1, 0.3)
    width = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    return replace(strokes.Variation(), slant=(slant - 0.05, slant + 0.05),
                   aspect=(width * 0.95, width * 1.05))


def real_drawing(rng, variation, digit=None):
    """(png, digit): a random form (of ``digit`` if given) drawn in ``variation``."""
    forms = [f for f in strokes.FORMS if digit is None or f.digit == digit]
    form = forms[rng.integers(len(forms))]
    return png(canvas.render(strokes.sample(form, rng, variation))), form.digit


def scribble(rng):
    """A scribble: a few random zigzags across much of the pad."""
    lines = [rng.uniform(0.1, 0.9, (int(rng.integers(6, 14)), 2))
             for _ in range(int(rng.integers(1, 4)))]
    return png(canvas.render(lines))


def honest(rng):
    """[(png, label, client, "honest")]: the class behind one address, then the visitors."""
    out = []
    for _ in range(HONEST_CLASS):
        data, digit = real_drawing(rng, hand(rng))
        out.append((data, str(digit), "192.0.2.1", "honest"))
    for visitor in range(HONEST_VISITORS):
        variation = hand(rng)
        for _ in range(PER_VISITOR):
            data, digit = real_drawing(rng, variation)
            out.append((data, str(digit), f"198.51.100.{visitor + 1}", "honest"))
    return out


def vandals(rng):
    """[(png, label, client, vandal)]: 5 × 100 deliberately wrong labels."""
    out = []
    for number, kind in enumerate(VANDALS):
        client, variation = f"203.0.113.{number + 1}", hand(rng)
        if kind == "repeats":
            drawings = [real_drawing(rng, variation) for _ in range(PER_VANDAL // 10)]
            for data, digit in drawings:
                for label in rng.permutation([d for d in range(10) if d != digit])[:9].tolist() + [
                        (digit + 5) % 10]:
                    out.append((data, str(label), client, kind))
            continue
        for _ in range(PER_VANDAL):
            if kind == "scribbles":
                out.append((scribble(rng), str(rng.integers(10)), client, kind))
                continue
            data, digit = real_drawing(rng, variation,
                                       digit=int(rng.choice([d for d in range(10) if d != 3]))
                                       if kind == "all-threes" else None)
            label = {"next": (digit + 1) % 10, "all-threes": 3,
                     "random": int(rng.choice([d for d in range(10) if d != digit]))}[kind]
            out.append((data, str(label), client, kind))
    return out


def send(url, item):
    data, label, client, kind = item
    request = urllib.request.Request(f"{url}/api/v1/samples?label={label}", data=data,
                                     headers={"Content-Type": "image/png",
                                              "X-Forwarded-For": client})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["id"], kind


def digits(env, *args):
    """``digits *args`` in the bench's instance: its output (it must succeed)."""
    done = subprocess.run([str(Path(sys.executable).with_name("digits")), *args], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"digits {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def retrain(env, *options):
    output = digits(env, "retrain", *options)
    return int(re.search(r"model version (\d+)", output).group(1))


def accuracy(net, pictures, labels):
    return float((net.predict(model.inputs(net, pictures)) == labels).mean())


def predicted_through_api(url, drawings):
    right = 0
    for data, label in drawings:
        request = urllib.request.Request(f"{url}/api/v1/predict", data=data,
                                         headers={"Content-Type": "image/png"})
        with urllib.request.urlopen(request, timeout=60) as response:
            right += json.load(response)["digit"] == label
    return right / len(drawings)


def run(args):
    from bench.slow_clients import digits_serve
    from webapp import create_app
    from webapp.core import registry
    from webapp.reading.normalise import read_digit
    from webapp.teaching import review

    rng = np.random.default_rng(SEED)
    sent = honest(rng) + vandals(rng)
    order = rng.permutation(len(sent))
    fresh = [real_drawing(rng, hand(rng)) for _ in range(FRESH)]
    data = mnist.load(args.data_dir, download=False)

    def pictures(pngs):
        return np.stack([read_digit(p).image for p in pngs])

    honest_sent = [(d, int(label)) for d, label, _, kind in sent if kind == "honest"]
    honest_pictures, honest_labels = pictures([d for d, _ in honest_sent]), np.array(
        [label for _, label in honest_sent])
    fresh_pictures, fresh_labels = pictures([d for d, _ in fresh]), np.array([d for _, d in fresh])

    env = {"DIGITS_PROXIES": "1", "DIGITS_RATELIMIT_ENABLED": "false",
           "DIGITS_DATA_DIR": args.data_dir, "DIGITS_LOG_REQUESTS": "false"}
    result = {"honest": len(honest_sent), "wrong": len(sent) - len(honest_sent)}
    with digits_serve(env=env) as (port, env, _server):
        url = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(lambda i: send(url, sent[i]), order))
        result["submit_seconds"] = round(time.perf_counter() - started, 1)
        kind_of = dict(ids)
        print(f"sent {len(ids)} samples in {result['submit_seconds']} s", flush=True)

        app = create_app({"INSTANCE_PATH": env["DIGITS_INSTANCE_PATH"], "SECRET_KEY": "bench",
                          "DATA_DIR": args.data_dir, "MODEL_CHECK_SECONDS": 0})
        with app.test_request_context():
            started = time.perf_counter()
            ranked = review.ranked()
            result["rank_seconds"] = round(time.perf_counter() - started, 2)
            top = [f.sample.id for f in ranked[:result["wrong"]]]
            result["precision_top_500"] = sum(kind_of[i] != "honest" for i in top) / len(top)
            result["precision_top_100"] = sum(kind_of[i] != "honest" for i in top[:100]) / 100
            result["caught_by_kind"] = {kind: sum(kind_of[i] == kind for i in top) for kind in VANDALS}
            result["honest_with_reasons"] = sum(1 for f in ranked if f.reasons
                                                and kind_of[f.sample.id] == "honest")
            result["reasons"] = {who: {kind: sum(1 for f in ranked if kind in f.kinds and (
                (kind_of[f.sample.id] == "honest") == (who == "honest")))
                for kind in review.KINDS} for who in ("honest", "wrong")}
            started = time.perf_counter()
            review.ranked()
            result["rank_again_seconds"] = round(time.perf_counter() - started, 2)
            rest = [f.sample.id for f in ranked[result["wrong"]:]]
        print(f"queue ranked in {result['rank_seconds']} s; precision of the top 500 "
              f"{result['precision_top_500']:.1%}", flush=True)

        versions = {"before": 1}
        versions["defaults"] = retrain(env)
        print(f"defaults → version {versions['defaults']}", flush=True)
        versions["everything"] = retrain(env, "--include-new")
        print(f"--include-new → version {versions['everything']}", flush=True)
        digits(env, "samples", "reject", *map(str, top))
        digits(env, "samples", "accept", *map(str, rest))
        versions["after_review"] = retrain(env)
        print(f"after review → version {versions['after_review']}", flush=True)

        with app.app_context():
            for name, number in versions.items():
                net, _ = registry.load_version(registry.get(number))
                result[name] = {"version": number,
                                "mnist": accuracy(net, data["test_images"], data["test_labels"]),
                                "honest_sent": accuracy(net, honest_pictures, honest_labels),
                                "honest_fresh": accuracy(net, fresh_pictures, fresh_labels)}
                print(name, result[name], flush=True)
        promoted = subprocess.run([str(Path(sys.executable).with_name("digits")), "models",
                                   "promote", str(versions["defaults"])], env=env,
                                  capture_output=True, text=True)
        result["promoted"] = promoted.stdout.strip() or promoted.stderr.strip()
        if promoted.returncode == 0:
            result["served_honest_fresh"] = predicted_through_api(url, fresh)
    return result


def report(r):
    print(f"\n{r['wrong']} wrong labels from 5 clients among {r['honest']} honest corrections")
    print(f"review queue: precision of the top 500 {r['precision_top_500']:.1%} "
          f"(top 100: {r['precision_top_100']:.0%}); ranked in {r['rank_seconds']} s; "
          f"caught per vandal {r['caught_by_kind']}")
    print(f"reasons given, honest / wrong: {r['reasons']}; ranked again (cached) in "
          f"{r['rank_again_seconds']} s")
    print("| model | MNIST test | honest drawings sent | fresh honest drawings |")
    print("| --- | --- | --- | --- |")
    names = {"before": "served before (v1)", "defaults": "retrain, defaults (accepted only)",
             "everything": "retrain --include-new (every sample)",
             "after_review": "retrain after review (queue's top 500 rejected)"}
    for key, words in names.items():
        v = r[key]
        print(f"| {words} | {v['mnist']:.2%} | {v['honest_sent']:.1%} | {v['honest_fresh']:.1%} |")
    if "served_honest_fresh" in r:
        print(f"served after promoting the defaults' version: fresh honest drawings "
              f"{r['served_honest_fresh']:.1%} through /api/v1/predict")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.vandals",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("DIGITS_DATA_DIR"),
                        help="MNIST directory (default: $DIGITS_DATA_DIR)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if not args.data_dir:
        raise SystemExit("bench.vandals needs MNIST: set DIGITS_DATA_DIR or --data-dir")
    sys.path.insert(0, str(ROOT))
    result = run(args)
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
