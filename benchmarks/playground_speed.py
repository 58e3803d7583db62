"""Frames per second of the triplet playground: training steps, readouts, drawing and the PNG, as play does them.

One frame is what one tick of the widget's play button costs in the kernel:
``playground_step(state, steps_per_frame)`` (training plus the readouts), moving the
points and curves of the figure, and rendering it to the PNG the page shows (the
browser's own drawing of that PNG is not counted). The target is 5 frames a second
on a 2-core CPU (the widget's play interval is 200 ms).

Rows, side by side:
  widget frame          the widget's frame (``w.play.value += 1``) at 1, 2 and 5 steps per frame;
  training only         ``playground_step`` alone (2 steps per frame);
  drawing only          ``PlaygroundFigure.update`` and ``png`` alone;
  baseline: all threads the widget's frame with torch on its default thread count, i.e. without
                        ``playground.one_thread`` (what the step would cost without it);
  baseline: new figure  a new ``playground_figure`` each frame, shown the way Jupyter shows a
                        figure (PNG with a tight bounding box), instead of updating one in place.

How it is measured: each row runs ``--frames`` frames after 2 untimed ones and reports
the median wall-clock frame time as frames a second (the median, because the machine
may be shared: single frames were seen to take several times longer while another job
ran), the mean, and the CPU time of this process per frame (what an idle machine of the
same speed would need). The load average is printed with the table: above 2 on a 2-core
machine, the wall-clock figures are those of a machine shared with other work.

Run:  .venv/bin/python benchmarks/playground_speed.py   (about half a minute)
"""

import argparse
import contextlib
import io
import os
import statistics
import sys
import time

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from facenet_edu import playground, widgets  # noqa: E402
from facenet_edu.widgets.playground import PlaygroundFigure  # noqa: E402

TARGET_FPS = 5.0


def measure(frame, num_frames: int) -> dict:
    """Call ``frame()`` twice untimed, then ``num_frames`` times; wall and CPU seconds per frame."""
    for _ in range(2):
        frame()
    walls, cpu_start = [], time.process_time()
    for _ in range(num_frames):
        start = time.perf_counter()
        frame()
        walls.append(time.perf_counter() - start)
    cpu = (time.process_time() - cpu_start) / num_frames
    return {"median": statistics.median(walls), "mean": statistics.fmean(walls), "cpu": cpu}


def widget_frame(steps_per_frame: int):
    w = widgets.triplet_playground(steps_per_frame=steps_per_frame)

    def frame():
        w.play.value += 1
    return frame


def training_only():
    box = [playground.new_playground()]

    def frame():
        box[0] = playground.playground_step(box[0], 2)
    return frame


def drawing_only():
    state = playground.playground_step(playground.new_playground(), 20)
    drawing = PlaygroundFigure(state)

    def frame():
        drawing.update(state)
        drawing.png()
    return frame


def new_figure_each_frame():
    box = [playground.new_playground()]

    def frame():
        box[0] = playground.playground_step(box[0], 2)
        buffer = io.BytesIO()
        widgets.playground_figure(box[0]).savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    return frame


@contextlib.contextmanager
def all_threads():
    """Run the playground without its one-thread guard (torch's default thread count)."""
    saved = playground.one_thread
    playground.one_thread = contextlib.nullcontext
    try:
        yield
    finally:
        playground.one_thread = saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30, help="timed frames per row")
    args = parser.parse_args()
    rows = [
        ("widget frame, 1 step", lambda: widget_frame(1), None),
        ("widget frame, 2 steps (default)", lambda: widget_frame(2), None),
        ("widget frame, 5 steps", lambda: widget_frame(5), None),
        ("training only, 2 steps", training_only, None),
        ("drawing only", drawing_only, None),
        ("baseline: all threads, 2 steps", lambda: widget_frame(2), all_threads),
        ("baseline: new figure, 2 steps", new_figure_each_frame, None),
    ]
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load average {load:.1f} (1 min), {args.frames} frames a row")
    print(f"{'':34s} {'fps (median)':>12s} {'ms median':>10s} {'ms mean':>8s} {'ms CPU':>7s} {'fps (CPU)':>9s}")
    results = {}
    for name, make, context in rows:
        with context() if context else contextlib.nullcontext():
            result = measure(make(), args.frames)
        results[name] = result
        print(f"{name:34s} {1 / result['median']:12.1f} {1000 * result['median']:10.1f} {1000 * result['mean']:8.1f} "
              f"{1000 * result['cpu']:7.1f} {1 / result['cpu']:9.1f}")
    default = results["widget frame, 2 steps (default)"]
    fps = 1 / default["median"]
    verdict = "meets" if fps >= TARGET_FPS else "misses"
    print(f"\nthe default widget frame {verdict} the target of {TARGET_FPS:.0f} frames a second: {fps:.1f} "
          f"(wall clock, median; {1 / default['cpu']:.1f} by CPU time){'' if load <= 2 else ', on a shared machine'}")
    return 0 if fps >= TARGET_FPS else 1


if __name__ == "__main__":
    sys.exit(main())
