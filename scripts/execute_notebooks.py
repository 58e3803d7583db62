"""Execute the course notebooks in place and tidy them for committing.

    .venv/bin/python scripts/execute_notebooks.py                 # full mode, all notebooks
    .venv/bin/python scripts/execute_notebooks.py notebooks/03_*.ipynb
    FACENET_EDU_FAST=1 .venv/bin/python scripts/execute_notebooks.py --check   # fast mode, outputs not saved

Committed notebooks carry the outputs of a full run so a student can read them
without running anything. Execution counts are renumbered 1..n, per-cell timing metadata and widget
state are removed; outputs mentioning an absolute path or holding an error or a
warning on stderr make the script fail so they never reach a commit.
"""

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from facenet_edu.runtime import fast_mode

ROOT = Path(__file__).resolve().parent.parent
ABSOLUTE_PATH = re.compile(r"(/root|/work|/tmp|/home|/Users)/")


def mode_name() -> str:
    """The mode the notebooks will run in, "fast" or "full", decided as they decide it (``facenet_edu.fast_mode``)."""
    return "fast" if fast_mode() else "full"


def tidy(nb: nbformat.NotebookNode) -> list[str]:
    """Strip noise in place; return the problems that must not be committed."""
    problems = []
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    count = 0
    for index, cell in enumerate(nb.cells):
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        if cell.cell_type != "code":
            continue
        # nbval treats a cell with outputs but no execution count as "unrun" and fails
        # it, so number the code cells 1..n as one top-to-bottom run would.
        count += 1
        cell.execution_count = count
        for output in cell.outputs:
            if "execution_count" in output:
                output.execution_count = count
            output.get("metadata", {}).pop("execution", None)
            if output.output_type == "error":
                problems.append(f"cell {index}: error {output.ename}: {output.evalue}")
            if output.output_type == "stream" and output.name == "stderr" and "Warning" in output.text:
                problems.append(f"cell {index}: a warning in the output: {output.text.strip()[:200]}")
            text = output.get("text", "") + "".join(str(v) for k, v in output.get("data", {}).items() if k.startswith("text/"))
            if ABSOLUTE_PATH.search(text):
                problems.append(f"cell {index}: an absolute path in the output")
    nb.metadata.pop("widgets", None)
    return problems


def execute(path: Path, save: bool, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    problems = tidy(nb)
    if problems:
        raise SystemExit(f"{path.name}: not saved:\n  " + "\n  ".join(problems))
    if save:
        nbformat.write(nb, path)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="execute without saving the outputs")
    parser.add_argument("--tidy-only", action="store_true", help="renumber and clean the saved notebooks without executing")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    mode = mode_name()
    for path in paths:
        if args.tidy_only:
            nb = nbformat.read(path, as_version=4)
            problems = tidy(nb)
            if problems:
                raise SystemExit(f"{path.name}: not saved:\n  " + "\n  ".join(problems))
            nbformat.write(nb, path)
            print(f"{path.name}: tidied")
            continue
        seconds = execute(path, save=not args.check, timeout=args.timeout)
        print(f"{path.name}: {seconds:.0f} s ({mode} mode){'' if args.check else ', saved'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
