"""LFW's files: finding a copy (``find_lfw_home``), and its official pair lists, read and validated.

LFW comes with official pair lists: ``pairsDevTrain.txt`` and ``pairsDevTest.txt``
(View 1, for development) and ``pairs.txt`` (View 2: 10 folds). ``lfw_people_in`` names
everybody in one of them (the course model never trains on the DevTest people).

Where the files come from:

- ``data_dir`` (or the environment variable ``FACENET_EDU_LFW``): a folder in
  scikit-learn's layout, ``lfw_home/`` with ``lfw_funneled/<Name>/<Name>_NNNN.jpg`` and
  the pair lists (the folder itself or its parent). It is only read, never written.
- otherwise ``data/lfw_home`` in the project's download cache; when it is missing,
  scikit-learn's ``fetch_lfw_pairs`` downloads the photos and the pair lists there once.

A pair list is refused, with its file and line, unless its header matches its rows
exactly (View 1: ``n`` then n same-person and n different-people lines; View 2: ``folds
n`` then, per fold, n same and n different), every name is a plain name (no separator,
no ``..``, no control character) and every photo number a positive whole number.
"""

import os
import re
import unicodedata
from pathlib import Path

from .data import default_data_dir
from .errors import FaceNetEduError

LFW_ENV_VAR = "FACENET_EDU_LFW"
PAIR_LISTS = {"devtrain": "pairsDevTrain.txt", "devtest": "pairsDevTest.txt", "view2": "pairs.txt"}
PHOTO_FOLDER = "lfw_funneled"
_COUNT = re.compile(r"[0-9]{1,9}")   # ASCII digits only, bounded (int() of a huge string is slow or refused)
_BAD_NAME_CHARACTERS = "/\\:"


def find_lfw_home(data_dir: str | Path | None = None, download: bool = True) -> Path:
    """The ``lfw_home`` folder to read: ``data_dir``, $FACENET_EDU_LFW, or the download cache.

    Args:
        data_dir: ``lfw_home`` itself or the folder that holds it.
        download: when no copy is found, let scikit-learn download one into ``data/``.

    Raises:
        FaceNetEduError: the folder given has no LFW photos, or the download failed.
    """
    given = data_dir or os.environ.get(LFW_ENV_VAR)
    if given:
        for home in (Path(given), Path(given) / "lfw_home"):
            if (home / PHOTO_FOLDER).is_dir():
                return home
        raise FaceNetEduError(
            f"{given}: no LFW photos there. Expected scikit-learn's layout: lfw_home/{PHOTO_FOLDER}/<Name>/<Name>_0001.jpg "
            "and the pair lists (pairsDevTest.txt ...), given as lfw_home or the folder holding it."
        )
    data_home = default_data_dir()
    home = data_home / "lfw_home"
    if (home / PHOTO_FOLDER).is_dir():
        return home
    if not download:
        raise FaceNetEduError(f"LFW is not in {home}. Pass --data-dir DIR (or set {LFW_ENV_VAR}) to read a copy.")
    from sklearn.datasets import fetch_lfw_pairs

    try:  # downloads the photos (about 230 MB) and the pair lists into data_home/lfw_home, once
        fetch_lfw_pairs(subset="test", data_home=str(data_home), funneled=True, resize=0.1, download_if_missing=True)
    except Exception as err:  # URLError, HTTPError, OSError offline
        raise FaceNetEduError(
            f"Could not download LFW ({type(err).__name__}: {err}). Without a network, put a copy in scikit-learn's "
            f"layout (lfw_home/{PHOTO_FOLDER}/... and the pairs*.txt files) under {data_home}, or pass --data-dir DIR "
            f"(or set {LFW_ENV_VAR}); --dataset synthetic works offline."
        ) from err
    return home


def read_pair_list(path: str | Path) -> list[tuple[str, int, str, int, int]]:
    """Parse an official LFW pair list into (name_a, number_a, name_b, number_b, fold) rows.

    The first line gives the number of folds and of pairs per kind (``10 300``; View 1
    lists give one number, one fold). Then, per fold, that many same-person lines
    ``Name n1 n2`` followed by as many different-people lines ``Name1 n1 Name2 n2``.

    Raises:
        FaceNetEduError: the file is missing or unreadable, or any line breaks these rules
            (the message names the file and the line).
    """
    return parse_pair_list(read_pair_bytes(Path(path)), Path(path))


def read_pair_bytes(path: Path) -> bytes:
    """The bytes of a pair list (parsed by ``parse_pair_list``, hashed into the cache key by ``lfw``)."""
    if not path.is_file():
        raise FaceNetEduError(f"{path}: no such LFW pair list. It ships with LFW "
                              "(scikit-learn downloads it with the photos).")
    try:
        return path.read_bytes()
    except OSError as err:
        raise FaceNetEduError(f"{path}: cannot read this LFW pair list ({err.strerror}); check its permissions.") from err


def parse_pair_list(data: bytes, path: Path) -> list[tuple[str, int, str, int, int]]:
    """``read_pair_list`` on bytes already read (so the bytes parsed are the bytes the cache key hashes)."""
    damaged = "Replace it with the official file (scikit-learn downloads it with the photos)."
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise FaceNetEduError(f"{path}: byte {err.start} is not UTF-8 text; an LFW pair list is plain text. "
                              f"{damaged}") from err
    # split on "\n" only (splitlines also splits on form feeds and the like, which would shift the line numbers)
    lines = [(number, line.split()) for number, line in enumerate(text.split("\n"), 1) if line.strip()]
    if not lines:
        raise FaceNetEduError(f"{path}: the pair list is empty. {damaged}")
    (header_line, header), body = lines[0], lines[1:]
    if len(header) not in (1, 2) or not all(_COUNT.fullmatch(v) and int(v) > 0 for v in header):
        raise FaceNetEduError(f"{path}, line {header_line}: the header must be 'N' (View 1) or 'FOLDS N' (View 2), "
                              f"positive whole numbers; got {' '.join(header)!r}. {damaged}")
    folds, per_kind = (1, int(header[0])) if len(header) == 1 else (int(header[0]), int(header[1]))
    expected = folds * 2 * per_kind
    if len(body) != expected:
        where = f"line {body[expected][0]} is one too many" if len(body) > expected else f"it ends at line {lines[-1][0]}"
        raise FaceNetEduError(f"{path}: the header (line {header_line}) promises {expected} pairs ({folds} fold(s) of "
                              f"{per_kind} same-person and {per_kind} different-people pairs) but the file has "
                              f"{len(body)}; {where}. The list is truncated or damaged. {damaged}")
    rows = []
    for i, (line, parts) in enumerate(body):
        fold, position = divmod(i, 2 * per_kind)
        same = position < per_kind
        if len(parts) != (3 if same else 4):
            kind = "a same-person line 'Name n1 n2'" if same else "a different-people line 'Name1 n1 Name2 n2'"
            raise FaceNetEduError(f"{path}, line {line}: expected {kind} (pair {position + 1} of fold {fold + 1}), "
                                  f"got {len(parts)} fields. {damaged}")
        name_a, number_a, name_b, number_b = (parts[0], parts[1], parts[0], parts[2]) if same else parts
        row = (_checked_name(name_a, path, line), _checked_number(number_a, path, line),
               _checked_name(name_b, path, line), _checked_number(number_b, path, line), fold)
        if same and row[1] == row[3]:
            raise FaceNetEduError(f"{path}, line {line}: a same-person pair compares photo {row[1]} with itself. {damaged}")
        if not same and name_a == name_b:
            raise FaceNetEduError(f"{path}, line {line}: a different-people pair names {name_a} twice. {damaged}")
        rows.append(row)
    return rows


def _checked_name(name: str, path: Path, line: int) -> str:
    """A person's name as a pair list gives it: a plain folder name, never a path."""
    if ".." in name or any(c in _BAD_NAME_CHARACTERS for c in name) or any(unicodedata.category(c)[0] == "C" for c in name):
        raise FaceNetEduError(f"{path}, line {line}: {name!r} is not a person's name (no '/', '\\', ':', '..' or "
                              "control characters); the pair list is damaged. Replace it with the official file.")
    return name


def _checked_number(text: str, path: Path, line: int) -> int:
    if not _COUNT.fullmatch(text) or int(text) < 1:
        raise FaceNetEduError(f"{path}, line {line}: the photo number {text!r} is not a positive whole number; "
                              "the pair list is damaged. Replace it with the official file.")
    return int(text)


def lfw_people_in(home: Path, which: str) -> set[str]:
    """Everybody who appears in one of the pair lists (``devtrain``, ``devtest``, ``view2``)."""
    return {name for row in read_pair_list(home / pair_list_name(which)) for name in (row[0], row[2])}


def pair_list_name(which: str) -> str:
    """The file name of one of ``PAIR_LISTS`` (``devtrain``, ``devtest``, ``view2``)."""
    if which not in PAIR_LISTS:
        raise FaceNetEduError(f"Unknown LFW pair list {which!r}; choose one of {', '.join(PAIR_LISTS)}.")
    return PAIR_LISTS[which]
