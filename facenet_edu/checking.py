"""How a student's function is checked against a correct one: cases, answers, and a sentence about what is wrong.

``facenet_edu.exercises`` holds the exercises themselves; this module is the machinery
they share. ``run_check`` calls the student's function on each ``Case`` (copies of the
inputs, so nothing the student changes leaks out), turns each return value into a
comparable answer (``WrongOutput`` when its type or shape is wrong, or it holds NaN),
compares it with the reference's, and, when some case is wrong, tries each known
mistake: the first that gives exactly the student's answers on every case names the
hint. Otherwise the message names the first wrong case, expected vs got. Whatever the
student's code raises becomes a failed check with its message, never a traceback.
"""

import math
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np
import torch

from .errors import FaceNetEduError


class Case(NamedTuple):
    """One input the student's function is called with (positionally), and what it shows."""

    description: str
    args: tuple


class CheckResult(NamedTuple):
    """What ``check`` found: ``passed``, a ``message`` in a student's words, the first failing case and the mistake recognised."""

    passed: bool
    message: str
    failed_case: str | None = None
    mistake: str | None = None

    def __repr__(self) -> str:
        return ("PASSED: " if self.passed else "NOT YET: ") + self.message


class WrongOutput(Exception):
    """The student's return value has the wrong type, shape or contains NaN (message in a student's words)."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: the task, a correct solution, the wrong solutions it recognises, and how answers are compared.

    Attributes:
        name: the key in ``EXERCISES`` and the function's name.
        prompt: the task in a student's words: arguments with shapes, what to return.
        reference: a correct solution, ``reference(*case.args)``.
        mistakes: {mistake name: a wrong solution students really write}.
        hints: {mistake name: what ``check`` says when the student's answers are that mistake's}.
        notebook: where the exercise belongs ("02_triplet_loss").
        cases: builds the list of ``Case`` (fixed seeds), anew on each call.
        output: ``output(got, expected) -> value`` turns a return value into a comparable one, or raises WrongOutput.
        agree: ``agree(case, a, b)``: the two answers are the same answer.
        accept: ``accept(case, expected, got)``: the answer is correct (default: ``agree``).
        explain: ``explain(case, expected, got)``: what to say about a wrong answer no mistake explains.
    """

    name: str
    prompt: str
    reference: Callable
    mistakes: dict[str, Callable]
    hints: dict[str, str]
    notebook: str
    cases: Callable[[], list[Case]] = field(repr=False)
    output: Callable[[Any, Any], Any] = field(repr=False)
    agree: Callable[[Case, Any, Any], bool] = field(repr=False)
    accept: Callable[[Case, Any, Any], bool] | None = field(default=None, repr=False)
    explain: Callable[[Case, Any, Any], str] | None = field(default=None, repr=False)


def mistakes_by_rule(wrong: Callable[[str], Callable], hints: dict[str, str]) -> dict[str, Callable]:
    """``Exercise.mistakes`` from one function: ``{rule: wrong(rule)}`` for each rule of ``hints``, in its order."""
    return {rule: wrong(rule) for rule in hints}


# ---------------------------------------------------------------- answers: conversion and comparison


def plain(x):
    """A tensor, array or scalar as a NumPy array or Python number; None stays None."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x.item()
    return x.item() if isinstance(x, np.generic) else x


def _returned_none(got) -> None:
    if got is None:
        raise WrongOutput("Your function returned None: did you forget the `return` line?")


def number(got, expected=None) -> float:
    """One finite number (a float, or a tensor or array with one element)."""
    _returned_none(got)
    value = plain(got)
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise WrongOutput(f"Return one number, got an array of shape {value.shape}: did you forget to average (.mean())?")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WrongOutput(f"Return one number, got {type(got).__name__}.")
    if not math.isfinite(value):
        raise WrongOutput(f"Your function returned {value}: a division by zero, or the square root of a negative number?")
    return float(value)


def array_output(kind: str, what: str):
    """``output`` for arrays: same shape as the reference, dtype kind 'b' (bool), 'i' (integers) or 'f' (numbers, finite)."""

    def output(got, expected):
        _returned_none(got)
        value = np.asarray(plain(got))
        if value.shape != expected.shape:
            raise WrongOutput(f"Return {what}: shape {expected.shape}, got shape {value.shape}.")
        if kind == "b" and value.dtype != bool:
            raise WrongOutput(f"Return a bool mask (True/False), got dtype {value.dtype}: compare with ==, combine with &.")
        if kind == "i" and value.dtype.kind not in "iu":
            raise WrongOutput(f"Return integer labels, got dtype {value.dtype}.")
        if kind == "f" and value.dtype.kind not in "iuf":
            raise WrongOutput(f"Return numbers, got dtype {value.dtype}.")
        if kind == "f" and not np.isfinite(value).all():
            raise WrongOutput("Your answer contains NaN or infinity: a division by zero, or the square root of a negative number?")
        return value.astype(np.float64) if kind == "f" else value

    return output


def index_or_none(got, expected=None) -> int | None:
    """One index (an int, or a one-element integer tensor or array), or None."""
    if got is None:
        return None
    value = plain(got)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iu":
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int):
        raise WrongOutput(f"Return one index (an int) or None, got {type(got).__name__} {value!r}.")
    return value


def close(case, a, b) -> bool:
    """Numbers or arrays equal within float32 rounding (rtol 1e-4, atol 1e-5)."""
    return np.allclose(a, b, rtol=1e-4, atol=1e-5)


def equal(case, a, b) -> bool:
    """Exactly the same answer (masks, indices, labels)."""
    return bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else a == b


def show(x) -> str:
    """An answer on one short line, for a message."""
    if isinstance(x, np.ndarray):
        return np.array2string(x, precision=4, threshold=24, suppress_small=True).replace("\n", "")
    return f"{x:.5g}" if isinstance(x, float) else repr(x)


def _difference(expected, got) -> str:
    """Expected vs got; for a large array, where the first difference is."""
    if isinstance(expected, np.ndarray) and expected.size > 12:
        wrong = np.argwhere(~np.isclose(expected, got, rtol=1e-4, atol=1e-5) if expected.dtype.kind == "f" else expected != got)
        where = tuple(int(i) for i in wrong[0])
        return (f"{len(wrong)} of {expected.size} entries differ, the first at {list(where)}: "
                f"expected {show(plain(expected[where]))}, got {show(plain(got[where]))}")
    return f"expected {show(expected)}, got {show(got)}"


def _copy(args: tuple) -> tuple:
    """Fresh copies of a case's tensors and arrays, so a function that changes its input changes nothing else."""
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a.copy() if isinstance(a, np.ndarray) else a for a in args)


# ---------------------------------------------------------------- check


def run_check(exercise: Exercise, fn: Callable) -> CheckResult:
    """Run ``fn`` on the exercise's cases and say whether it is right, and if not, what is wrong.

    Args:
        exercise: the exercise.
        fn: the student's function, called positionally as in the exercise's prompt.

    Returns:
        CheckResult; ``passed`` is True when every case agrees with the reference.
    """
    if not callable(fn):
        raise FaceNetEduError(f"check needs your function itself, e.g. check({exercise.name!r}, {exercise.name}), "
                              f"not {type(fn).__name__}.")
    accept = exercise.accept or exercise.agree
    cases, expecteds, answers, failures = exercise.cases(), [], [], []
    for case in cases:
        expected = plain(exercise.reference(*_copy(case.args)))
        expecteds.append(expected)
        try:
            got = fn(*_copy(case.args))
        except Exception as error:  # the student's code: any error becomes a sentence, never a traceback
            return CheckResult(False, f"Your function raised {type(error).__name__} on the case '{case.description}': "
                                      f"{error}", case.description)
        try:
            got = exercise.output(got, expected)
        except WrongOutput as wrong:
            return CheckResult(False, f"On the case '{case.description}': {wrong}", case.description)
        except Exception:  # e.g. a ragged list that NumPy cannot read
            return CheckResult(False, f"On the case '{case.description}': your function returned a {type(got).__name__} "
                                      f"that is not a number, tensor or array.", case.description)
        answers.append(got)
        if not accept(case, expected, got):
            failures.append((case, expected, got))
    if not failures:
        return CheckResult(True, f"Correct on all {len(cases)} cases: " + "; ".join(c.description for c in cases) + ".")
    case, expected, got = failures[0]
    shown = exercise.explain(case, expected, got) if exercise.explain else _difference(expected, got)
    where = f"{len(failures)} of {len(cases)} cases are wrong; the first, '{case.description}': {shown}."
    for mistake, wrong_fn in exercise.mistakes.items():
        if all(_gives(exercise, wrong_fn, c, e, a) for c, e, a in zip(cases, expecteds, answers)):
            return CheckResult(False, f"{exercise.hints[mistake]} ({where})", case.description, mistake)
    return CheckResult(False, where[0].upper() + where[1:], case.description)


def _gives(exercise: Exercise, wrong_fn: Callable, case: Case, expected, answer) -> bool:
    """Whether the known wrong solution ``wrong_fn`` gives ``answer`` on ``case`` (False when it gives NaN or a wrong shape)."""
    try:
        return bool(exercise.agree(case, exercise.output(wrong_fn(*_copy(case.args)), expected), answer))
    except (WrongOutput, FloatingPointError, ZeroDivisionError):
        return False
