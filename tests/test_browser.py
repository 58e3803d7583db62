"""The hard vs semi-hard notebook as a student meets it: JupyterLab in headless Chromium.

nbval proves the cells run in a kernel; it cannot see whether the browser draws the widgets
or whether moving a slider changes what is drawn. These tests open
``notebooks/03_choosing_triplets.ipynb`` in a throwaway JupyterLab, run all cells from the
Run menu, move the margin slider by dragging its handle and the threshold slider by typing
into its readout, and check what the page then shows.

Where the expected numbers come from (the honest route): after the slider moves, the test
reads the kernel's state through a second client on the same kernel (its connection file,
not the page): the slider's value and the arrays the widget was built from. It then
recounts easy / semi-hard / hard negatives, and the false accept / reject rates, with the
slow explicit loops in ``browser_helpers`` (no package code), and asserts that the page
shows those numbers and the readout shows that slider value. A widget whose extension is
missing never draws the ``fe-*`` elements; a widget whose observer is broken keeps showing
the old numbers, which no longer match the recount: both fail.

``notebooks/02_triplet_loss.ipynb`` is opened the same way (in its own JupyterLab) for the
triplet playground: the test drags its margin slider low, presses play, pauses, then drags it
high and plays again, and checks that the gap the page shows grew, and that each shown gap is
the one recounted with loops over pairs from the embeddings the kernel holds.

Screenshots of the widgets land in ``test-output/browser/`` for a reviewer to look at.
Run alone with ``pytest -m browser tests/test_browser.py``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import shutil
import time
from pathlib import Path

import psutil
import pytest

from browser_helpers import (
    CHROMIUM_ARGS,
    KernelProbe,
    count_triplets_slowly,
    error_rates_slowly,
    find_chromium,
    gap_slowly,
    parse_shown_number,
    pid_alive,
    start_lab,
)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "03_choosing_triplets.ipynb"
PLAYGROUND_NOTEBOOK = REPO / "notebooks" / "02_triplet_loss.ipynb"
SCREENSHOTS = REPO / "test-output" / "browser"

# What the notebook must define (names in its namespace) for the kernel-side recount.
MARGIN_WIDGET, EMBEDDINGS, LABELS = "explorer", "embeddings", "labels"
THRESHOLD_WIDGET, DISTANCES, IS_SAME = "threshold_widget", "distances", "is_same"
PLAYGROUND_WIDGET = "playground"

RUN_ALL_TIMEOUT_S = 180  # fast mode: about 20 s idle; a CI run beside another job once took over 120 s
RUN_ALL_LABEL = "Run All Cells"
UPDATE_TIMEOUT_S = 30  # slider moved -> kernel recomputes -> page redraws

pytestmark = pytest.mark.browser


def _skip_reason(notebook: Path) -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright (Python package) is not installed; pip install -e '.[test]'"
    if find_chromium() is None:
        return "Chromium not found at /usr/bin/chromium; scripts/setup.sh installs it with apt-get"
    if importlib.util.find_spec("jupyterlab") is None:
        return "jupyterlab is not installed; pip install -e '.[test]'"
    if not notebook.exists():
        return f"{notebook.relative_to(REPO)} is not in the repository yet"
    return None


def _screenshot(locator_or_page, name: str) -> None:
    """Save a PNG under test-output/browser/; a failing screenshot never hides the real error."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        locator_or_page.screenshot(path=str(SCREENSHOTS / name))
    except Exception as error:  # noqa: BLE001 - the page may be gone; say so and go on
        print(f"could not save screenshot {name}: {error}")


@pytest.fixture(scope="module")
def driver():
    """One Playwright driver for the module: its sync API cannot be started twice in one thread."""
    reason = _skip_reason(NOTEBOOK) or _skip_reason(PLAYGROUND_NOTEBOOK)
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    yield playwright
    playwright.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, driver):
    """JupyterLab on notebook 03 (the margin and threshold explorers), run all; see ``_lab_on``."""
    yield from _lab_on(NOTEBOOK, tmp_path_factory, driver)


@pytest.fixture(scope="module")
def playground_lab(tmp_path_factory, driver):
    """JupyterLab on notebook 02 (the triplet playground), run all; see ``_lab_on``."""
    yield from _lab_on(PLAYGROUND_NOTEBOOK, tmp_path_factory, driver)


def _lab_on(notebook: Path, tmp_path_factory, playwright):
    """JupyterLab serving a copy of the notebooks folder, and a Chromium page on ``notebook``.

    The notebook has been run with Run > Run All Cells and the kernel is idle. Teardown
    closes the browser, stops the server and its kernel, and checks that no process is left.
    """
    reason = _skip_reason(notebook)
    if reason:
        pytest.skip(reason)

    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "root"
    # A copy, so the test can never write outputs back into the repository's notebook.
    shutil.copytree(notebook.parent, root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    server = start_lab(root, tmp / "state")
    try:
        with contextlib.ExitStack() as cleanup:  # closes probe and browser even if one fails
            context = playwright.chromium.launch_persistent_context(
                str(tmp / "chromium-profile"),
                executable_path=find_chromium(),
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": 1280, "height": 1000},
            )
            cleanup.callback(context.close)
            context.set_default_timeout(60_000)
            page = context.pages[0] if context.pages else context.new_page()
            try:
                _open_and_run_all(page, server, notebook)
                probe = KernelProbe(server, notebook.name)
            except BaseException:
                _screenshot(page, "failure-setup.png")
                raise
            cleanup.callback(probe.close)
            yield page, probe
    finally:
        alive = server.stop()
        leftovers = [
            child for child in psutil.Process().children(recursive=True)
            if child.pid not in before and pid_alive(child.pid)
        ]
        assert not alive, f"server or kernel processes still alive after stop: {alive}"
        assert not leftovers, f"browser or driver processes still alive after close: {leftovers}"


def _open_and_run_all(page, server, notebook: Path) -> None:
    """Open the notebook, wait for its kernel, then Run > Run All Cells and wait until done."""
    page.goto(server.lab_url(f"notebooks/{notebook.name}"), wait_until="domcontentloaded")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(state="visible", timeout=90_000)
    server.wait_for_kernel(notebook.name)
    page.locator('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(
        state="attached", timeout=90_000
    )
    # Run All marks the queued cells [*] at once; wait for that (one retry: a click can land
    # while JupyterLab is still settling), then for no [*] and an idle kernel, twice in a
    # row (Run All stops at the first error, which also ends the wait).
    for attempt in range(2):
        _run_all_cells(page)
        try:
            page.wait_for_function(_ANY_QUEUED, polling="raf", timeout=15_000)
            break
        except Exception:
            if attempt == 1:
                pytest.fail("Run > Run All Cells did not start the notebook (no cell showed [*])")
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    settled = 0
    while settled < 2:
        if time.monotonic() > deadline:
            pytest.fail(f"Run All Cells did not finish within {RUN_ALL_TIMEOUT_S} s")
        settled = settled + 1 if page.evaluate(_ALL_DONE) else 0
        time.sleep(1.0)
    stderr = page.locator('.jp-NotebookPanel .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    tracebacks = [text for text in stderr.all_inner_texts() if "Traceback" in text]
    assert not tracebacks, f"a cell raised while running all cells:\n{tracebacks[0][:3000]}"


def _run_all_cells(page) -> None:
    """Click Run > Run All Cells; if the menu item is not found, use the command palette."""
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()  # focus the notebook
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^\s*{RUN_ALL_LABEL}\s*$"))
    item = page.locator(".lm-Menu-item").filter(has=label)
    try:
        item.first.click(timeout=10_000)
    except Exception:
        page.keyboard.press("Escape")
        page.keyboard.press("Control+Shift+C")
        page.locator(".lm-CommandPalette-input").fill(RUN_ALL_LABEL)
        page.keyboard.press("Enter")


_PROMPTS = "[...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent)"
_ANY_QUEUED = f"() => {_PROMPTS}.some(p => p.includes('*'))"
_ALL_DONE = (
    f"() => !{_PROMPTS}.some(p => p.includes('*')) && !!document.querySelector("
    "'.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status=\"idle\"]')"
)


def _widget_output(page, marker_class: str, what: str):
    """The output area that holds the widget with ``marker_class``; fails if it is not drawn."""
    output = page.locator(f".jp-NotebookPanel .jp-OutputArea-output:has(.{marker_class})")
    try:
        output.first.wait_for(state="visible", timeout=30_000)
    except Exception:
        shown = page.locator(".jp-NotebookPanel .jp-OutputArea-output").all_inner_texts()
        fallback = [text[:200] for text in shown if "(children=" in text or "Loading widget" in text
                    or "Error displaying widget" in text]
        pytest.fail(
            f"the {what} was not drawn as a widget (no .{marker_class} on the page); "
            f"is the @jupyter-widgets/jupyterlab-manager extension installed and enabled? "
            f"outputs shown instead: {fallback or [text[:200] for text in shown][-3:]}"
        )
    # JupyterLab renders only the cells near the viewport (and a student looks at what is on screen):
    # bring the widget into view before reading its text or dragging its handle.
    output.first.scroll_into_view_if_needed()
    return output.first


def _slider(output, label: str):
    """The ipywidgets slider in ``output`` whose description mentions ``label`` (or the only one)."""
    sliders = output.locator(".widget-slider")
    labelled = sliders.filter(has=output.page.locator(".widget-label", has_text=label))
    slider = labelled.first if labelled.count() else sliders.first
    slider.locator(".noUi-handle").wait_for(state="visible")
    return slider


def _as_list(name: str, dtype: str, flat: bool = False) -> str:
    """Kernel-side expression turning the notebook variable ``name`` (tensor, array or list) into a list."""
    array = f"__import__('numpy').asarray(getattr({name}, 'detach', lambda: {name})(), dtype={dtype})"
    return f"{array}.ravel().tolist()" if flat else f"{array}.tolist()"


def _shown(output, css_class: str) -> tuple[float, float]:
    return parse_shown_number(output.locator(f".{css_class}").first.inner_text())


def _shown_counts(output) -> dict[str, int]:
    return {name: int(_shown(output, f"fe-count-{name}")[0]) for name in ("easy", "semi-hard", "hard")}


def _within(got: dict, expected: dict, slack: int) -> bool:
    return all(abs(got[key] - expected[key]) <= slack for key in expected)


def _wait_until(check, timeout: float, what: str):
    """Call ``check`` until it returns (True, detail); fail with the last detail on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        ok, detail = check()
        if ok:
            return detail
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:.0f} s; last seen: {detail}")
        time.sleep(0.5)


def _drag_handle(page, slider, fraction: float) -> None:
    """Drag the slider's handle with the mouse to ``fraction`` of the track's width.

    The mouse works in the window's coordinates, so the slider is scrolled into view first:
    after Run All, JupyterLab may show another part of a long notebook.
    """
    slider.scroll_into_view_if_needed()
    handle = slider.locator(".noUi-handle").first.bounding_box()
    track = slider.locator(".noUi-target").first.bounding_box()
    start_x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(start_x, y)
    page.mouse.down()
    page.mouse.move(track["x"] + fraction * track["width"], y, steps=12)
    page.mouse.up()


def test_margin_slider_updates_negative_counts(lab):
    """Dragging the margin slider redraws the easy / semi-hard / hard counts the kernel recounts."""
    page, probe = lab
    try:
        output = _widget_output(page, "fe-count-easy", "margin explorer")
        slider = _slider(output, "margin")
        data = probe.evaluate(
            f"{{'embeddings': {_as_list(EMBEDDINGS, 'float')}, 'labels': {_as_list(LABELS, 'int')}}}"
        )
        state_expr = (
            f"{{'margin': float({MARGIN_WIDGET}.margin_slider.value),"
            f" 'min': float({MARGIN_WIDGET}.margin_slider.min), 'max': float({MARGIN_WIDGET}.margin_slider.max),"
            f" 'counts': {{k: int(v) for k, v in {MARGIN_WIDGET}.counts.items()}}}}"
        )

        def consistent():
            state = probe.evaluate(state_expr)
            readout, readout_tol = parse_shown_number(slider.locator(".widget-readout").inner_text())
            expected, slack = count_triplets_slowly(data["embeddings"], data["labels"], state["margin"])
            shown = _shown_counts(output)
            ok = (
                abs(readout - state["margin"]) <= readout_tol + 1e-9
                and _within(shown, expected, slack)
                and _within(state["counts"], expected, slack)
            )
            return ok, {"readout": readout, "kernel": state, "recount": expected, "shown": shown}

        before = _wait_until(consistent, UPDATE_TIMEOUT_S, "the margin explorer never matched the recount")
        _screenshot(output, "margin_explorer_before.png")
        span = before["kernel"]["max"] - before["kernel"]["min"]
        position = (before["kernel"]["margin"] - before["kernel"]["min"]) / span
        _drag_handle(page, slider, 0.85 if position < 0.5 else 0.15)

        def moved_and_consistent():
            ok, detail = consistent()
            return ok and detail["kernel"]["margin"] != before["kernel"]["margin"], detail

        after = _wait_until(
            moved_and_consistent, UPDATE_TIMEOUT_S,
            "after dragging the margin slider the page did not show the recounted negatives",
        )
        _screenshot(output, "margin_explorer_after.png")
        assert after["recount"] != before["recount"], (
            "the drag moved the margin but the recount did not change, so it proves nothing: "
            f"{before['recount']} at margin {before['kernel']['margin']} vs {after['kernel']['margin']}"
        )
        assert after["shown"] != before["shown"]
    except BaseException:
        _screenshot(page, "failure-margin.png")
        raise


def test_threshold_readout_updates_error_rates(lab):
    """Typing a threshold into the slider's readout redraws FAR / FRR as the kernel recounts them."""
    page, probe = lab
    try:
        output = _widget_output(page, "fe-far", "threshold explorer")
        slider = _slider(output, "threshold")
        data = probe.evaluate(
            f"{{'distances': {_as_list(DISTANCES, 'float', flat=True)},"
            f" 'is_same': {_as_list(IS_SAME, 'bool', flat=True)}}}"
        )
        w = THRESHOLD_WIDGET
        state_expr = (
            f"{{'threshold': float({w}.threshold_slider.value), 'min': float({w}.threshold_slider.min),"
            f" 'max': float({w}.threshold_slider.max), 'step': float({w}.threshold_slider.step),"
            f" 'far': float({w}.far), 'frr': float({w}.frr),"
            f" 'flipped': len({w}.flipped) if isinstance({w}.flipped, (list, tuple, set, dict))"
            f" or getattr({w}.flipped, 'ndim', 0) > 0 else int({w}.flipped)}}"
        )
        num_pairs = len(data["distances"])

        def consistent():
            state = probe.evaluate(state_expr)
            readout, readout_tol = parse_shown_number(slider.locator(".widget-readout").inner_text())
            far, frr, near = error_rates_slowly(data["distances"], data["is_same"], state["threshold"])
            slack = near / max(num_pairs, 1) + 1e-9
            shown = {key: _shown(output, f"fe-{key}") for key in ("far", "frr", "flipped")}
            ok = (
                abs(readout - state["threshold"]) <= readout_tol + 1e-9
                and abs(shown["far"][0] - far) <= shown["far"][1] + slack
                and abs(shown["frr"][0] - frr) <= shown["frr"][1] + slack
                and abs(state["far"] - far) <= slack + 1e-6  # the kernel may hold float32
                and abs(state["frr"] - frr) <= slack + 1e-6
                and shown["flipped"][0] == state["flipped"]
            )
            detail = {"readout": readout, "kernel": state, "recount": {"far": far, "frr": frr},
                      "shown": {key: value[0] for key, value in shown.items()}}
            return ok, detail

        before = _wait_until(consistent, UPDATE_TIMEOUT_S, "the threshold explorer never matched the recount")
        _screenshot(output, "threshold_explorer_before.png")
        state = before["kernel"]
        # Move a third of the range towards the far end, on the slider's step grid.
        span = state["max"] - state["min"]
        target = state["threshold"] + (span / 3 if state["threshold"] < state["min"] + span / 2 else -span / 3)
        target = state["min"] + round((target - state["min"]) / state["step"]) * state["step"]
        decimals = max(0, len(f"{state['step']:g}".partition(".")[2]))
        readout = slider.locator(".widget-readout")
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(f"{target:.{decimals}f}")
        page.keyboard.press("Enter")

        def moved_and_consistent():
            ok, detail = consistent()
            return ok and abs(detail["kernel"]["threshold"] - target) < state["step"] / 2, detail

        after = _wait_until(
            moved_and_consistent, UPDATE_TIMEOUT_S,
            f"after typing threshold {target:.{decimals}f} the page did not show the recounted FAR / FRR",
        )
        _screenshot(output, "threshold_explorer_after.png")
        assert after["recount"] != before["recount"], (
            f"moving the threshold from {state['threshold']} to {target} did not change FAR / FRR, so it proves nothing"
        )
        _screenshot(page, "notebook.png")
    except BaseException:
        _screenshot(page, "failure-threshold.png")
        raise


# ---------------------------------------------------------------- the triplet playground (notebook 02)

PLAY_STEPS = 60  # training steps per round of play: enough for the gap to settle at the default settings


def _play_button(output, icon: str):
    """The ``Play`` widget's play/pause button while it shows ``icon`` ("play" or "pause": one button, two icons)."""
    return output.locator(f".widget-play button:has(.fa-{icon})").first


def test_playground_gap_follows_the_margin(playground_lab):
    """Margin low, play, pause; margin high, play, pause: the shown gap grows, and matches a recount."""
    page, probe = playground_lab
    try:
        output = _widget_output(page, "fe-gap", "triplet playground")
        slider = _slider(output, "margin")
        w = PLAYGROUND_WIDGET
        state_expr = (
            f"{{'margin': float({w}.state.margin), 'min': float({w}.margin_slider.min),"
            f" 'max': float({w}.margin_slider.max), 'step': int({w}.state.step),"
            f" 'playing': bool({w}.play.playing), 'gap': float({w}.state.readouts.gap),"
            f" 'embeddings': {w}.state.embeddings.tolist(), 'labels': {w}.state.labels.tolist()}}"
        )

        def consistent():
            state = probe.evaluate(state_expr)
            readout, readout_tol = parse_shown_number(slider.locator(".widget-readout").inner_text())
            gap, gap_tol = _shown(output, "fe-gap")
            steps = int(_shown(output, "fe-steps")[0])
            recount = gap_slowly(state["embeddings"], state["labels"])
            ok = (abs(readout - state["margin"]) <= readout_tol + 1e-9 and steps == state["step"]
                  and abs(gap - recount) <= gap_tol + 1e-6 and abs(state["gap"] - recount) <= 1e-6)
            return ok, {"margin": state["margin"], "step": state["step"], "playing": state["playing"],
                        "shown_gap": gap, "recount": recount, "shown_steps": steps}

        def set_margin(fraction: float):
            before = probe.evaluate(state_expr)
            _drag_handle(page, slider, fraction)
            target = before["min"] + fraction * (before["max"] - before["min"])

            def moved():
                ok, detail = consistent()
                return ok and abs(detail["margin"] - target) < 0.1, detail
            return _wait_until(moved, UPDATE_TIMEOUT_S, f"the margin slider did not move to about {target:.2f}")

        def play_and_pause(from_step: int, what: str):
            _play_button(output, "play").click()
            _wait_until(lambda: (probe.evaluate(f"int({w}.state.step)") >= from_step + PLAY_STEPS, "steps"),
                        RUN_ALL_TIMEOUT_S, f"play did not train {PLAY_STEPS} steps ({what})")
            _play_button(output, "pause").click()
            seen = []

            def settled():                                   # paused, no tick left in the queue, page redrawn
                ok, detail = consistent()
                seen.append(detail["step"])
                return ok and not detail["playing"] and len(seen) >= 2 and seen[-1] == seen[-2], detail
            return _wait_until(settled, UPDATE_TIMEOUT_S, f"the playground did not settle after pause ({what})")

        start = _wait_until(consistent, UPDATE_TIMEOUT_S, "the playground never matched the recount")
        low = set_margin(0.05)
        low = play_and_pause(low["step"], "small margin")
        _screenshot(output, "playground_small_margin.png")
        high = set_margin(0.85)
        assert high["step"] == low["step"], "moving the margin slider must not train"
        high = play_and_pause(high["step"], "large margin")
        _screenshot(output, "playground_large_margin.png")
        assert low["step"] > start["step"] and high["step"] > low["step"]
        assert high["margin"] > low["margin"] + 0.5
        assert high["shown_gap"] > low["shown_gap"] + 0.2, (
            f"the gap did not follow the margin: {low['shown_gap']:+.3f} after margin {low['margin']:.2f}, "
            f"{high['shown_gap']:+.3f} after margin {high['margin']:.2f}"
        )
    except BaseException:
        _screenshot(page, "failure-playground.png")
        raise
