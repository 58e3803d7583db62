"""The progress bar leaves a readable final line, in a terminal and in a saved notebook."""

import io

import nbformat
from nbclient import NotebookClient

from facenet_edu.runtime import progress_bar


def test_outside_a_notebook_the_bar_counts_every_step_and_ends_on_its_last_line():
    out = io.StringIO()
    for _ in progress_bar(range(7), desc="steps", file=out, mininterval=0):
        pass
    assert out.getvalue().replace("\r", "\n").strip().splitlines()[-1].startswith("steps: 100%")
    assert "7/7" in out.getvalue()


def test_disabled_bar_prints_nothing():
    out = io.StringIO()
    assert list(progress_bar(range(3), disable=True, file=out)) == [0, 1, 2]
    assert out.getvalue() == ""


def test_a_saved_notebook_keeps_the_final_line_as_text_not_the_first_frame_of_a_widget():
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "from facenet_edu.runtime import progress_bar\n"
        "for _ in progress_bar(range(40), desc='training'):\n    pass"))
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert len(outputs) == 1
    assert set(outputs[0]["data"]) == {"text/plain"}           # the widget is gone from the saved file
    assert outputs[0]["data"]["text/plain"].startswith("training: 100%")
    assert "40/40" in outputs[0]["data"]["text/plain"]
