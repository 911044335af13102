"""Benchmark (not a test): how long "Teach it our handwriting" takes, and what it changes.

    python -m bench.teach [--writers 40] [--per-form 1] [--json out.json]   (make bench-teach)

A class of ``--writers`` students, each with a hand of their own
(``bench.corrections``' writers and forms), saves ``--per-form`` drawings of
each of the forms MNIST rarely has; about a fifth are held out, as in a real
lesson. The class's teach run is then executed exactly as the training worker
executes it (``worker.execute``, one BLAS thread, as ``digits worker`` runs),
on the shipped model and the full MNIST set (``$DIGITS_DATA_DIR``). Printed:
the run's seconds, and before/after on the class's held-out drawings, on what
it learnt from, and on the MNIST test set.
"""

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")      # as worker.WORKER_ENVIRONMENT
os.environ.setdefault("OMP_NUM_THREADS", "1")

import model  # noqa: E402
from bench.corrections import correction_drawings  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.classroom import lessons  # noqa: E402
from webapp.core.db import Classroom, db  # noqa: E402
from webapp.reading import corrections  # noqa: E402
from webapp.teaching import runs, worker  # noqa: E402
from webapp.teaching.settings import CLASS_TEACH  # noqa: E402


def run(args):
    data_dir = os.environ.get("DIGITS_DATA_DIR")
    if not data_dir:
        sys.exit("bench.teach needs $DIGITS_DATA_DIR (the four MNIST idx .gz files)")
    instance = tempfile.mkdtemp(prefix="digits-teach-")
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
                      "MODEL": str(model.PRETRAINED), "DATA_DIR": data_dir,
                      "LOG_REQUESTS": False})
    drawings = correction_drawings(args.writers, args.per_form)
    with app.app_context():
        classroom = lessons.start("bench", 45)
        students = [lessons.join(db.session.get(Classroom, classroom.id), f"s{w}")
                    for w in range(args.writers)]
        per_writer = len(drawings) // args.writers
        for i, (png, label, _form) in enumerate(drawings):
            corrections.add(png, label, source="class", classroom_id=classroom.id,
                            student_id=students[i // per_writer].id, state="accepted")
        started = time.perf_counter()
        run_row = runs.start(CLASS_TEACH, enqueue=False, classroom_id=classroom.id)
        done = worker.execute(run_row.id, data_dir=data_dir)
        seconds = time.perf_counter() - started
        if done.status != "succeeded":
            sys.exit(f"the teach run {done.status}: {done.error}")
        return {"writers": args.writers, "drawings": len(drawings), "seconds": round(seconds, 1),
                "results": done.results, "cpu": os.cpu_count(),
                "load_average": os.getloadavg()}


def report(r):
    res = r["results"]
    print(f"class of {r['writers']}: {r['drawings']} drawings "
          f"({res['trained_samples']} taught, {res['held_out_samples']} held out)")
    print(f"teach run: {r['seconds']} s end to end (the run's own clock: {res['seconds']} s); "
          f"load average {', '.join(f'{x:.1f}' for x in r['load_average'])} on {r['cpu']} cores")
    for key, title in (("held_out", "class's held-out drawings"), ("taught", "drawings taught"),
                       ("mnist", "MNIST test set")):
        m = res[key]
        if m["n"]:
            print(f"  {title:28s} n={m['n']:5d}  before {m['before']:.1%}  after {m['after']:.1%}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=40)
    parser.add_argument("--per-form", type=int, default=1)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    result = run(args)
    report(result)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
