"""Every number the notebooks' prose quotes is shown by the notebook itself (issue 18).

A number in a Markdown cell must appear in an output of the same notebook (printed text, a
table, Markdown rendered from the results) or in its code (a setting the student can see and
change). Not counted: whole numbers up to 10 (counts such as "two losses", "3 seeds", list and
section numbers), numbers in maths ($...$), in code spans, in links and notebook names, and
figures from the literature, recognised by their source on the same line (an author's "et al."
or a year of publication).
"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
NUMBER = re.compile(r"(?<![\w.])[−-]?\d[\d,]*(?:\.\d+)?")
SOURCE = re.compile(r"et al\.|\b(19[5-9]\d|20[0-2]\d)\b")   # a citation: an author list or a year


def _canonical(token: str) -> str:
    """'1,112' -> '1112', '−0.21' -> '0.21', '0.50' -> '0.50' (digits as printed)."""
    return token.replace(",", "").lstrip("−-")


def _numbers(text: str) -> set[str]:
    return {_canonical(t) for t in NUMBER.findall(text)}


def _shown(notebook: dict) -> set[str]:
    """Every number in the notebook's outputs and code."""
    found = set()
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        found |= _numbers("".join(cell["source"]))
        for output in cell.get("outputs", []):
            texts = [output.get("text", "")]
            for kind in ("text/plain", "text/markdown", "text/html"):
                texts.append(output.get("data", {}).get(kind, ""))
            for text in texts:
                found |= _numbers("".join(text) if isinstance(text, list) else text)
    return found


def _prose_numbers(markdown: str) -> list[tuple[str, str]]:
    """(number, line) for each number of the prose that must be shown."""
    markdown = re.sub(r"\$\$.*?\$\$|\$[^$\n]+\$", " ", markdown, flags=re.S)          # maths
    markdown = re.sub(r"`[^`\n]*`", " ", markdown)                                     # code spans
    markdown = re.sub(r"\]\([^)]*\)", "]", markdown)                                   # link targets
    markdown = re.sub(r"\[\d\d\]|\b\d\d_\w+", " ", markdown)                           # notebook numbers and names
    found = []
    for line in markdown.splitlines():
        if SOURCE.search(line):
            continue
        for token in NUMBER.findall(re.sub(r"^\s*(#+\s*)?\d+\.\s", " ", line)):      # list and section numbers
            number = _canonical(token)
            if "." not in number and int(number) <= 10:
                continue
            found.append((number, line.strip()))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_number_in_the_prose_is_shown_by_the_notebook(path):
    notebook = json.loads(path.read_text())
    shown = _shown(notebook)
    missing = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "markdown":
            missing += [f"cell {index}: {number} in {line[:120]!r}" for number, line in _prose_numbers("".join(cell["source"]))
                        if number not in shown]
    assert not missing, "numbers in the prose that no output or code of the notebook shows:\n" + "\n".join(missing)


def test_the_checker_finds_typed_numbers_and_spares_the_rest():
    prose = ("The loss fell to 0.013 in 300 steps (3,194 ms a step).\n1. A list item\nFaceNet reached 0.9963 (Schroff et al.).\n"
             "In maths $d^2 = 4$ and in code `margin = 0.35`; see [06](06_new_faces.ipynb). Two seeds, 3 losses.")
    assert [n for n, _ in _prose_numbers(prose)] == ["0.013", "300", "3194"]
    assert _numbers("rate 94 %, 1,112 people, −0.21") == {"94", "1112", "0.21"}
