"""How the model reads the world's digit forms (issue #7): before and after, per form, per
digit, per tradition held out, and how honest its confidence is.

    python -m bench.forms report --before /tmp/pretrained-before.npz [--after model/pretrained.npz]
    python -m bench.forms loto [--epochs 30] [--drawings 12000] [--runs /tmp/forms-loto]
    python -m bench.forms sheet docs/forms.svg

Run from the repository root with ``DIGITS_DATA_DIR`` pointing at MNIST.

``report`` reads four sets with each model: the MNIST test set; its 7s, 1s and 9s
redrawn in ``model.styles``'s styles (as ``digits evaluate`` does); the hand-drawn
held-out set of ``tests/handdrawn_forms.py`` (mouse paths written by hand,
rendered with Pillow and read by ``read_digit``, exactly as an upload);
and generated drawings of every form (``webapp.teaching.drawings``, seed 2; training used
seed 1). It prints per-digit and per-form accuracy, calibration (ECE) and how
often the model is wrong when it says it is sure (confidence ≥ 0.6), and with
``--svg`` writes the reliability diagrams.

``sheet`` draws every form's template and a few random samples of it as SVG.

``loto`` trains one model per tradition without that tradition's distinctive
forms (shorter runs: ``--epochs``), then tests each on generated drawings of
exactly those forms and on the hand-drawn ones among them.
"""

import argparse
import json
from pathlib import Path

import numpy as np

import model
from bench import calibration
from model import mnist, strokes, styles
from tests import drawings as pillow
from tests.handdrawn_forms import all_drawings
from webapp.reading.normalise import read_digit
from webapp.teaching import drawings

GENERATED_SEED, LOTO_SEED = 2, 3


def read(path, images):
    """The model at ``path`` on ``images`` (n, 28, 28), undeskewed: probabilities (n, 10)."""
    net, _ = model.load(path)
    return net.feedforward(model.inputs(net, images))


def handdrawn():
    """The held-out hand-drawn set read like uploads: images (n, 28, 28), labels, form names."""
    rows = all_drawings()
    images = np.stack([read_digit(pillow.render(strokes_)).image for _, _, _, strokes_ in rows])
    return images, np.array([r[2] for r in rows]), np.array([r[0] for r in rows])


def by_group(probabilities, labels, groups):
    """{group: (correct, total)} in first-seen order."""
    correct = probabilities.argmax(axis=1) == labels
    return {g: (int(correct[groups == g].sum()), int((groups == g).sum()))
            for g in dict.fromkeys(groups.tolist())}


def pct(correct, total):
    return f"{100 * correct / total:.1f} %" if total else "—"


def table(title, before, after):
    """Markdown rows: group | before | after | n."""
    lines = [f"| {title} | before | after | n |", "| --- | --- | --- | --- |"]
    for group, (ok, n) in before.items():
        lines.append(f"| {group} | {pct(ok, n)} | {pct(after[group][0], n)} | {n} |")
    return "\n".join(lines)


def report(args):
    data = mnist.load(args.data_dir, download=True)
    sets = {"MNIST test": (data["test_images"], data["test_labels"].astype(np.int64), None),
            "hand-drawn forms": handdrawn()}
    upright = model.prepare(data["test_images"]).reshape(-1, 28, 28)
    styled = styles.styled_sets(upright, data["test_labels"])
    sets["MNIST test, styled"] = (np.concatenate([images for images, _ in styled.values()]),
                                  np.concatenate([[d] * len(i) for i, d in styled.values()]),
                                  np.concatenate([[k] * len(i) for k, (i, _) in styled.items()]))
    sets["generated forms"] = drawings.drawings(args.drawings, GENERATED_SEED)
    result, panels = {}, []
    for name, (images, labels, groups) in sets.items():
        p = {m: read(path, images) for m, path in (("before", args.before), ("after", args.after))}
        entry = {m: calibration.summary(p[m], labels) for m in p}
        entry["per_digit"] = {m: dict(sorted(by_group(p[m], labels, labels.astype(str)).items()))
                              for m in p}
        if groups is not None:
            entry["per_form"] = {m: by_group(p[m], labels, groups) for m in p}
        result[name] = entry
        panels.append((name, [("before", "#c0392b", p["before"], labels),
                              ("after", "#2471a3", p["after"], labels)]))
    print_report(result)
    if args.svg:
        Path(args.svg).write_text(calibration.diagram_svg(panels))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


def print_report(result):
    print("| set | before | after | ECE before | ECE after | sure, wrong before | "
          "sure, wrong after |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, e in result.items():
        b, a = e["before"], e["after"]
        print(f"| {name} (n={b['n']}) | {100 * b['accuracy']:.2f} % | {100 * a['accuracy']:.2f} % "
              f"| {b['ece']:.4f} | {a['ece']:.4f} "
              f"| {100 * b['sure']:.1f} %, {100 * b['wrong_when_sure']:.2f} % "
              f"| {100 * a['sure']:.1f} %, {100 * a['wrong_when_sure']:.2f} % |")
    for name, e in result.items():
        print(f"\n{name}, per digit\n")
        print(table("digit", e["per_digit"]["before"], e["per_digit"]["after"]))
        if "per_form" in e:
            print(f"\n{name}, per form\n")
            print(table("form", e["per_form"]["before"], e["per_form"]["after"]))


def loto(args):
    runs = Path(args.runs)
    hand_images, hand_labels, hand_forms = handdrawn()
    rows = []
    for tradition in strokes.TRADITIONS:
        path = runs / f"without-{tradition}.npz"
        if not path.exists():
            from model import mnist, train

            extra, recipe = drawings.training_set(args.drawings, exclude=[tradition])
            net, meta = train.train_with_metadata(
                train.TrainConfig(epochs=args.epochs), mnist.load(args.data_dir, download=True),
                on_epoch=lambda r, _: print(r["epoch"], r["val_accuracy"], flush=True),
                extra=extra, recipe=recipe, command=f"bench.forms loto (without {tradition})")
            model.save(path, net, meta)
        distinctive = {f.name for f in strokes.select([tradition], shared=False)}
        images, labels, _ = drawings.drawings(args.test_drawings, LOTO_SEED, [tradition],
                                              shared=False)
        hand = np.isin(hand_forms, sorted(distinctive))
        row = {"tradition": tradition, "forms": sorted(distinctive),
               "mnist": model.load(path)[1]["metrics"]["test_accuracy"]}
        for key, model_path in (("before", args.before), ("without", path),
                                ("shipped", args.after)):
            if not Path(model_path).exists():   # e.g. still training: rerun loto to fill in
                row[key], row[key + "_hand"] = float("nan"), {}
                continue
            row[key] = float((read(model_path, images).argmax(1) == labels).mean())
            row[key + "_hand"] = by_group(read(model_path, hand_images[hand]),
                                          hand_labels[hand], np.array(["all"] * hand.sum()))
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| held out | its forms | before | trained without it | shipped (saw all) "
          "| hand-drawn: before / without / shipped | MNIST (without) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        hand = " / ".join(pct(*r[k + "_hand"].get("all", (0, 0)))
                          for k in ("before", "without", "shipped"))
        print(f"| {r['tradition']} | {len(r['forms'])} | {100 * r['before']:.1f} % "
              f"| {100 * r['without']:.1f} % | {100 * r['shipped']:.1f} % | {hand} "
              f"| {100 * r['mnist']:.2f} % |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


def sheet(args, samples=4, cell=56):
    """Every form: its template, then ``samples`` random drawings, as SVG polylines."""
    rng = np.random.default_rng(0)
    width, height = 170 + (samples + 1) * cell, len(strokes.FORMS) * cell
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" '
           f'fill="white"/>']
    for row, form in enumerate(strokes.FORMS):
        y = row * cell
        out.append(f'<text x="4" y="{y + cell / 2 - 2}">{form.name}</text>')
        out.append(f'<text x="4" y="{y + cell / 2 + 11}" fill="#666" font-size="9">'
                   f'{", ".join(form.traditions) if form.traditions != strokes.ALL else "all"}'
                   '</text>')
        template = [strokes.curve(*strokes.control_points(s)) for s in form.strokes]
        drawings = [template] + [strokes.sample(form, rng) for _ in range(samples)]
        for col, drawing in enumerate(drawings):
            x = 170 + col * cell
            for stroke in drawing:
                kept = [stroke[0]]
                for point in stroke[1:]:            # a point per 2 px is plenty at this size
                    if np.hypot(*(point - kept[-1])) * cell >= 2 or point is stroke[-1]:
                        kept.append(point)
                points = " ".join(f"{x + px * cell:.0f},{y + py * cell:.0f}" for px, py in kept)
                out.append(f'<polyline points="{points}" fill="none" stroke="#16181d" '
                           f'stroke-width="{cell / 14:.1f}" stroke-linecap="round" '
                           f'stroke-linejoin="round"/>')
    Path(args.path).write_text("\n".join(out + ["</svg>"]) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("report", report), ("loto", loto)):
        p = sub.add_parser(name)
        p.add_argument("--before", default="/tmp/pretrained-before.npz",
                       help="the model before issue #7 (a copy of the old shipped one)")
        p.add_argument("--after", default=str(model.PRETRAINED))
        p.add_argument("--data-dir")
        p.add_argument("--json", help="also write the numbers here")
        p.set_defaults(func=func)
    sub.choices["report"].add_argument("--drawings", type=int, default=5000,
                                       help="generated test drawings")
    sub.choices["report"].add_argument("--svg", help="write the reliability diagrams here")
    sub.add_parser("sheet").add_argument("path")
    sub.choices["sheet"].set_defaults(func=sheet)
    p = sub.choices["loto"]
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--drawings", type=int, default=12000, help="training drawings per run")
    p.add_argument("--test-drawings", type=int, default=2000)
    p.add_argument("--runs", default="/tmp/forms-loto", help="where the models are kept")
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
