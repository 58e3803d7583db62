"""Exercises a student can check: write the function, call ``check(name, fn)``, read what is wrong.

``EXERCISES`` maps a name to an ``Exercise`` (``facenet_edu.checking``): its ``prompt``
(the task, with shapes), a ``reference`` (the package's tested function wherever it
has one, so the exercises teach exactly what the package does), and the ``mistakes``
students really write, each recognised by its answers and explained by its hint.
The cases are small and built from fixed seeds on each call, plus hand-made edges
(collapse, ties, a triplet exactly at the margin); ``check`` takes milliseconds.
The exercises live in modules by topic: ``unit_vectors`` (notebook 01), ``triplets`` (02, 03),
``matching`` (06) and ``center_loss`` (07); this module gathers them in ``EXERCISES``.

    import facenet_edu as fe
    print(fe.exercises.EXERCISES["triplet_loss"].prompt)
    fe.exercises.check("triplet_loss", my_triplet_loss)   # PASSED: ... or NOT YET: what is wrong
"""

from typing import Callable

from ..checking import CheckResult, Exercise, run_check
from ..errors import FaceNetEduError
from .center_loss import CENTER_LOSS_UPDATE
from .matching import CHOOSE_THRESHOLD, IDENTIFY
from .triplets import BATCH_ALL_MASK, SEMI_HARD_NEGATIVE, TRIPLET_LOSS
from .unit_vectors import L2_NORMALISE

EXERCISES: dict[str, Exercise] = {e.name: e for e in (
    L2_NORMALISE, TRIPLET_LOSS, SEMI_HARD_NEGATIVE, BATCH_ALL_MASK, CHOOSE_THRESHOLD, IDENTIFY, CENTER_LOSS_UPDATE)}


def check(name: str, fn: Callable) -> CheckResult:
    """Run the student's ``fn`` on exercise ``name``'s cases: ``passed``, and a ``message`` saying what is wrong.

    Args:
        name: a key of ``EXERCISES`` ("triplet_loss", "semi_hard_negative", ...).
        fn: the student's function, called positionally as the exercise's ``prompt`` says.

    Returns:
        CheckResult (``facenet_edu.checking``); it shows as "PASSED: ..." or "NOT YET: ..." in a notebook.
    """
    if name not in EXERCISES:
        raise FaceNetEduError(f"There is no exercise {name!r}; choose one of {', '.join(map(repr, EXERCISES))}.")
    return run_check(EXERCISES[name], fn)
