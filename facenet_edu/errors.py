"""The one exception type a student can meet, with a sentence that says what to do; and the checks of a numeric setting, a threshold and a file's format version."""

import math
import numbers


class FaceNetEduError(Exception):
    """A problem with the user's input or environment, explained in plain words.

    Raised for things a student can fix: an unreadable image, a face that cannot be
    found, an empty gallery, a dataset that cannot be downloaded offline, a file that
    is not a facenet-edu checkpoint. Bugs in the package raise ordinary exceptions.
    """


def check_number(name: str, value, low: float | None = None, high: float | None = None, integer: bool = False):
    """Return ``value`` if it is a finite number in [low, high] (an integer when ``integer``), else raise.

    Booleans and strings are refused, NaN and infinity too, so a typo or a diverged
    value never passes as a setting. The message names the setting and what is allowed.

    Args:
        name: the setting's name as the user wrote it ("threshold", "--lr", "margin").
        value: the value to check.
        low, high: inclusive bounds; None for no bound.
        integer: require a whole number (an ``int``, or a float such as 3.0 is refused).
    """
    kind = numbers.Integral if integer else numbers.Real
    allowed = ("a whole number" if integer else "a finite number") + (
        f" from {low:g} to {high:g}" if low is not None and high is not None
        else f" >= {low:g}" if low is not None else f" <= {high:g}" if high is not None else "")
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(float(value)):
        raise FaceNetEduError(f"{name} must be {allowed}, got {value!r}.")
    if (low is not None and value < low) or (high is not None and value > high):
        raise FaceNetEduError(f"{name} must be {allowed}, got {value!r}.")
    return value


def check_threshold(threshold, where: str = "") -> float:
    """Return a verification ``threshold`` as a float if it is a finite distance >= 0, else raise.

    The one rule for every threshold a user can give (``verify``, ``verify_embeddings``,
    ``Gallery``, checkpoints, ``--threshold``): a NaN or negative threshold would silently
    answer "different" to every pair, so it is refused instead.

    Args:
        threshold: the value to check.
        where: prefix for the message (a file name), or "".
    """
    try:
        return float(check_number("threshold", threshold, low=0.0))
    except FaceNetEduError as err:
        raise FaceNetEduError(f"{where}: {err}" if where else str(err)) from None


def check_version(version, newest: int, where, kind: str) -> int:
    """Return a file's format ``version`` if this facenet-edu reads it, else raise naming the file.

    Args:
        version: the value stored in the file.
        newest: the newest version this facenet-edu reads.
        where: the file, for the message.
        kind: what the version numbers ("checkpoint format", "gallery").
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FaceNetEduError(f"{where}: the {kind} version {version!r} is not a positive whole number; the file is damaged.")
    if version > newest:
        raise FaceNetEduError(f"{where}: written by a newer facenet-edu ({kind} version {version}, this one reads up to "
                              f"{newest}); update facenet-edu.")
    return version
