"""What a retrain may be asked to do: ``RetrainSettings``, their two sets of defaults, validation.

``FINE_TUNE`` is what the Train form and ``digits retrain`` start from; a run
``from scratch`` leaves its blanks to ``FROM_SCRATCH``, whose numbers come from
``model.train.TrainConfig``, the one source of training defaults. The form's
field list, its checkboxes and the command's options are all derived from the
dataclass's fields. Nothing here touches the database.
"""

import re
from dataclasses import asdict, dataclass, fields, replace

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from model import train


@dataclass(frozen=True)
class RetrainSettings:
    """What the Train form sets. ``hidden`` applies only from scratch (fine-tuning keeps the
    serving model's sizes); ``sample_weight`` is how often each collected sample is seen per
    epoch; ``start`` is "serving" (fine-tune the model in service) or "scratch";
    ``include_new`` adds the samples not reviewed yet to the accepted ones (rejected and
    not-a-digit samples never train)."""

    hidden: int
    epochs: int
    eta: float
    batch_size: int
    augment: bool
    include_samples: bool
    sample_weight: int
    start: str = "serving"
    include_new: bool = False


_TRAIN = train.TrainConfig()
# Fine-tuning the serving model: a few epochs at a tenth of the from-scratch learning rate
# keep what it knows while it learns the collected styles, in under a minute on 2 cores
# with all of MNIST plus 10,000 samples (bench/retrain.py measures it).
FINE_TUNE = RetrainSettings(hidden=_TRAIN.hidden[0], epochs=4, eta=0.05,
                            batch_size=_TRAIN.batch_size, augment=True, include_samples=True,
                            sample_weight=10, start="serving")
# From scratch, what the form leaves out comes from TrainConfig, the one source of defaults.
FROM_SCRATCH = replace(FINE_TUNE, epochs=_TRAIN.epochs, eta=_TRAIN.eta, start="scratch")
STARTS = {"serving": "the serving model", "scratch": "scratch"}

# The form's fields are the dataclass's: its true/false ones are checkboxes, the rest text.
FIELDS = tuple(f.name for f in fields(RetrainSettings))
CHECKBOXES = tuple(f.name for f in fields(RetrainSettings) if f.type is bool)
TEXT_FIELDS = tuple(name for name in FIELDS if name not in CHECKBOXES)

WHOLE_NUMBERS = {  # field: (label, lowest, highest)
    "hidden": (_l("Hidden units"), 10, 2048),
    "epochs": (_l("Epochs"), 1, 200),
    "batch_size": (_l("Batch size"), 1, 4096),
    "sample_weight": (_l("Sample weight"), 1, 100),
}
ETA_RANGE = (0.0, 5.0)   # exclusive, inclusive
FIELD_LABELS = {**{name: label for name, (label, _, _) in WHOLE_NUMBERS.items()},
                "eta": _l("Learning rate"), "start": _l("Start from")}
WHOLE = re.compile(r"[0-9]{1,9}", re.ASCII)
DECIMAL = re.compile(r"([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?", re.ASCII)
TRUE_WORDS = ("on", "true", "1", "yes")


def defaults_for(start):
    """The settings a form left blank takes: ``FINE_TUNE``'s or ``FROM_SCRATCH``'s."""
    return FROM_SCRATCH if start == "scratch" else FINE_TUNE


def _values(form, name):
    if hasattr(form, "getlist"):
        return [str(v) for v in form.getlist(name)]
    value = form.get(name)
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def _checked(form, name):
    """Checkbox semantics: present as "on", "true", "1" or "yes" (any case) means true."""
    return any(v.strip().lower() in TRUE_WORDS for v in _values(form, name))


def validate(form):
    """``(RetrainSettings, {})`` from a mapping of strings, or ``(None, {field: message})``.

    Blank or missing numbers take ``defaults_for(start)``; a missing checkbox is false.
    """
    errors = {}
    text = {name: (_values(form, name) or [""])[0].strip() for name in TEXT_FIELDS}
    for name in text:
        if len(_values(form, name)) > 1:
            errors[name] = gettext("%(field)s came more than once: send it once.",
                                   field=FIELD_LABELS[name])
    start = text["start"].lower() or FINE_TUNE.start
    if start not in STARTS:
        errors["start"] = gettext("Start from must be the serving model or scratch.")
        start = FINE_TUNE.start
    defaults = defaults_for(start)
    values = {"start": start, **{name: _checked(form, name) for name in CHECKBOXES}}
    for name, (label, low, high) in WHOLE_NUMBERS.items():
        if not text[name]:
            values[name] = getattr(defaults, name)
            continue
        # ASCII digits only: int() would also take "٣", "1_000" and " 7".
        values[name] = int(text[name]) if WHOLE.fullmatch(text[name]) else None
        if values[name] is None or not low <= values[name] <= high:
            errors[name] = gettext("%(field)s must be a whole number from %(low)s to %(high)s.",
                                   field=label, low=low, high=high)
    low, high = ETA_RANGE
    if not text["eta"]:
        values["eta"] = defaults.eta
    else:
        values["eta"] = float(text["eta"]) if DECIMAL.fullmatch(text["eta"]) else None
        if values["eta"] is None or not low < values["eta"] <= high:
            errors["eta"] = gettext("Learning rate must be a number above %(low)s and at most "
                                    "%(high)s (e.g. %(example)s).", low=format(low, "g"),
                                    high=format(high, "g"), example=format(defaults.eta, "g"))
    if errors:
        return None, errors
    return RetrainSettings(**values), {}


def form_values(form=None):
    """The Train form's values: as sent (to show them again with errors), else the defaults."""
    if form is None:
        return asdict(FINE_TUNE)
    return {name: (name in form) if name in CHECKBOXES else form.get(name, "") for name in FIELDS}


def as_form(settings, start):
    """Command-line ``settings`` (None where not given) as the form would send them."""
    form = {name: str(value) for name, value in settings.items()
            if value is not None and name not in CHECKBOXES}
    form.update({name: "on" for name in CHECKBOXES if settings.get(name)}, start=start)
    return form


@dataclass(frozen=True)
class TeachSettings:
    """A class's "Teach it our handwriting": fine-tune the serving model on the class's
    accepted corrections (each seen ``sample_weight`` times an epoch) with ``replay`` MNIST
    training digits shuffled in so it does not forget, ``epochs`` passes at ``eta``. Sized
    to finish within 30 s on 2 busy cores (bench/teach.py measures it)."""

    epochs: int = 4
    eta: float = 0.05
    batch_size: int = _TRAIN.batch_size
    replay: int = 6000
    validation: int = 1000
    sample_weight: int = 20
    augment: bool = True


CLASS_TEACH = TeachSettings()
