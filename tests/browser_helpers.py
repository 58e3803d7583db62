"""Helpers for the browser test: a throwaway JupyterLab server, headless Chromium, a side
channel to the notebook's kernel, and slow obvious recounts of what the widgets show.

Nothing here downloads or installs anything: Chromium is Debian's (``/usr/bin/chromium``),
driven by the Playwright Python package; ``playwright install`` is never run.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")

# Without the network flags Chromium tries to reach Google's hosts, which fail offline.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# JupyterLab user settings for the throwaway server: never write the notebook back
# (the test must not change the file it opened) and never ask about news.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}

# Two triplets (or pairs) whose distance differences lie this close to the margin (or the
# threshold) may land on either side of it depending on float32 vs float64 rounding.
BOUNDARY_EPS = 1e-5


def find_chromium() -> str | None:
    """Path of Debian's Chromium, or None when it is not installed."""
    for path in CHROMIUM_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("chromium")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    """A JupyterLab server started by `start_lab`; `stop` ends it and everything it started."""

    process: subprocess.Popen
    url: str
    token: str
    runtime_dir: Path
    log_path: Path
    pids_seen: set[int] = field(default_factory=set)

    def api(self, path: str, method: str = "GET") -> object:
        """Call the server's REST API with the token and return the decoded JSON (or None)."""
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def lab_url(self, notebook_path: str) -> str:
        """The address a student would open for ``notebook_path`` (relative to the root dir)."""
        return f"{self.url}/lab/tree/{notebook_path}?token={self.token}&reset"

    def wait_for_kernel(self, notebook_name: str, timeout: float = 90.0) -> str:
        """Wait until the notebook's kernel is idle with the page connected; return its id."""
        deadline = time.monotonic() + timeout
        seen: object = None
        while time.monotonic() < deadline:
            seen = self.api("/api/sessions")
            for session in seen:
                kernel = session.get("kernel") or {}
                if (session["path"].endswith(notebook_name) and kernel.get("execution_state") == "idle"
                        and kernel.get("connections", 0) >= 1):
                    return kernel["id"]
            time.sleep(0.5)
        raise TimeoutError(f"no idle, connected kernel for {notebook_name} within {timeout:.0f} s: {seen}")

    def log_tail(self, num_chars: int = 3000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-num_chars:]
        except OSError:
            return "(no server log)"

    def remember_children(self) -> None:
        """Note the server's descendants (kernels) so `stop` can check that they are gone."""
        try:
            self.pids_seen.update(
                child.pid for child in psutil.Process(self.process.pid).children(recursive=True)
            )
        except psutil.NoSuchProcess:
            pass

    def stop(self, timeout: float = 15.0) -> list[int]:
        """Stop the server, its kernels and its process group; return pids still alive (want [])."""
        self.remember_children()
        pgid = self.process.pid  # started with start_new_session, so pid == process-group id
        if self.process.poll() is None:
            try:
                os.killpg(pgid, signal.SIGTERM)  # jupyter_server shuts its kernels down on SIGTERM
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=timeout)
        # Kernels run in their own session (jupyter_client starts them so), so the group kill
        # does not reach them; the server shut them down, and any straggler is killed here.
        for pid in self.pids_seen:
            try:
                proc = psutil.Process(pid)
                if proc.status() != psutil.STATUS_ZOMBIE:
                    proc.kill()
                    proc.wait(timeout=5)
            except (psutil.NoSuchProcess, psutil.TimeoutExpired):
                pass
        return [pid for pid in [self.process.pid, *self.pids_seen] if pid_alive(pid)]


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start_lab(root_dir: Path, state_dir: Path, timeout: float = 90.0) -> LabServer:
    """Start JupyterLab on 127.0.0.1 serving ``root_dir``, with all its state under ``state_dir``.

    The kernel inherits the environment plus ``FACENET_EDU_FAST=1``; Jupyter's config,
    data, runtime, settings and workspace folders and IPython's folder all live in
    ``state_dir`` so nothing is read from or written to the user's home.
    """
    token = os.urandom(16).hex()
    port = free_port()
    dirs = {name: state_dir / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    for name, settings in LAB_SETTINGS.items():
        settings_file = dirs["settings"] / name
        settings_file.parent.mkdir(parents=True, exist_ok=True)
        settings_file.write_text(json.dumps(settings))
    env = dict(os.environ)
    env.update(
        FACENET_EDU_FAST="1",
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        IPYTHONDIR=str(dirs["ipython"]),
        PYTHONUNBUFFERED="1",
    )
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.user_settings_dir={dirs['settings']}",
        f"--LabApp.workspaces_dir={dirs['workspaces']}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:  # containers and CI runners often run as root
        command.append("--allow-root")
    log_path = state_dir / "jupyterlab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=root_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    server = LabServer(process, f"http://127.0.0.1:{port}", token, dirs["runtime"], log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}:\n{server.log_tail()}")
        try:
            server.api("/api/status")
            return server
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise TimeoutError(f"JupyterLab did not answer /api/status within {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.5)


class KernelProbe:
    """A second client on the notebook's kernel: evaluates expressions, bypassing the page.

    It connects with the kernel's connection file (in the server's runtime folder), so what
    it reads is the kernel's state, independent of what the browser draws.
    """

    def __init__(self, server: LabServer, notebook_name: str, timeout: float = 60.0):
        from jupyter_client import BlockingKernelClient

        kernel_id = server.wait_for_kernel(notebook_name, timeout)
        self.client = BlockingKernelClient(connection_file=str(server.runtime_dir / f"kernel-{kernel_id}.json"))
        self.client.load_connection_file()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=timeout)

    def evaluate(self, expression: str, timeout: float = 60.0) -> object:
        """Evaluate ``expression`` in the notebook's namespace and return its value via JSON."""
        code = f"import json as _fe_json\nprint('@@' + _fe_json.dumps({expression}) + '@@')"
        chunks: list[str] = []
        errors: list[str] = []

        def on_output(msg: dict) -> None:
            if msg["msg_type"] == "stream":
                chunks.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                errors.append("\n".join(msg["content"]["traceback"]))

        # store_history=False: the probe does not bump the notebook's execution counter.
        self.client.execute_interactive(
            code, silent=False, store_history=False, timeout=timeout, output_hook=on_output
        )
        if errors:
            raise RuntimeError(f"kernel probe `{expression}` failed:\n{errors[0]}")
        match = re.search(r"@@(.*)@@", "".join(chunks), re.S)
        if match is None:
            raise RuntimeError(f"kernel probe `{expression}` printed no result: {''.join(chunks)!r}")
        return json.loads(match.group(1))

    def close(self) -> None:
        """Close the channels (the kernel itself belongs to the server)."""
        self.client.stop_channels()


def parse_shown_number(text: str) -> tuple[float, float]:
    """The first number in a widget's text and the rounding the display allows.

    ``"semi-hard: 1,234"`` -> (1234, 0.5); ``"FAR 12.5%"`` -> (0.125, 0.0005).
    """
    match = re.search(r"[-+]?\d[\d,]*(?:\.(\d+))?\s*(%?)", text)
    if match is None:
        raise ValueError(f"no number in the widget's text {text!r}")
    number = float(match.group(0).rstrip("% \n").replace(",", ""))
    decimals = len(match.group(1) or "")
    half_unit = 0.5 * 10.0 ** -decimals
    if match.group(2) == "%":
        return number / 100.0, half_unit / 100.0
    return number, half_unit


def euclidean(u: list[float], v: list[float]) -> float:
    """Plain Euclidean distance between two vectors given as lists."""
    return math.sqrt(sum((a - b) ** 2 for a, b in zip(u, v)))


def count_triplets_slowly(embeddings: list[list[float]], labels: list[int], margin: float) -> tuple[dict, int]:
    """Count easy / semi-hard / hard negatives over all valid triplets with explicit loops.

    FaceNet's definitions, Euclidean (not squared) distances: hard d(a,n) < d(a,p);
    semi-hard d(a,p) <= d(a,n) < d(a,p) + margin; easy d(a,n) >= d(a,p) + margin.
    Returns the counts and how many triplets sit within BOUNDARY_EPS of a boundary.

    Args:
        embeddings: (B, D) nested lists.
        labels: (B,) identity of each row.
        margin: the triplet-loss margin the counts are for.
    """
    counts = {"easy": 0, "semi-hard": 0, "hard": 0}
    near_boundary = 0
    num = len(labels)
    for a in range(num):
        for p in range(num):
            if p == a or labels[p] != labels[a]:
                continue
            ap = euclidean(embeddings[a], embeddings[p])
            for n in range(num):
                if labels[n] == labels[a]:
                    continue
                an = euclidean(embeddings[a], embeddings[n])
                if an < ap:
                    counts["hard"] += 1
                elif an < ap + margin:
                    counts["semi-hard"] += 1
                else:
                    counts["easy"] += 1
                if min(abs(an - ap), abs(an - ap - margin)) < BOUNDARY_EPS:
                    near_boundary += 1
    return counts, near_boundary


def error_rates_slowly(distances: list[float], is_same: list[bool], threshold: float) -> tuple[float, float, int]:
    """False accept and false reject rates at ``threshold`` with an explicit loop.

    A pair is accepted as "same person" when its distance is below the threshold.
    Returns (FAR over different-person pairs, FRR over same-person pairs, pairs within
    BOUNDARY_EPS of the threshold).

    Args:
        distances: (P,) distance of each pair.
        is_same: (P,) whether each pair shows one person.
        threshold: the verification threshold.
    """
    false_accepts = false_rejects = num_same = num_different = near_boundary = 0
    for dist, same in zip(distances, is_same):
        accepted = dist < threshold
        if same:
            num_same += 1
            false_rejects += not accepted
        else:
            num_different += 1
            false_accepts += accepted
        near_boundary += abs(dist - threshold) < BOUNDARY_EPS
    return false_accepts / max(num_different, 1), false_rejects / max(num_same, 1), near_boundary


def gap_slowly(embeddings: list[list[float]], labels: list[int]) -> float:
    """The playground's gap with explicit loops: closest different-person pair minus farthest same-person pair.

    Args:
        embeddings: (B, D) nested lists.
        labels: (B,) identity of each row.
    """
    closest_different, farthest_same = math.inf, -math.inf
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            distance = euclidean(embeddings[i], embeddings[j])
            if labels[i] == labels[j]:
                farthest_same = max(farthest_same, distance)
            else:
                closest_different = min(closest_different, distance)
    return closest_different - farthest_same
