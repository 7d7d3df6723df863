"""Helpers for the browser tests: a JupyterLab server on loopback and Debian's chromium.

Not a conftest proper (pytest does not load it by itself); the browser test modules import it.
Chromium is Debian's `/usr/bin/chromium` driven by Playwright for Python; `playwright install`
is never run. Without chromium the tests fail with a clear message unless PTC_SKIP_BROWSER=1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
#: A folder the README's pictures are copied to as well (docs/images/make_images.py sets it);
#: unset, tests write into the untracked ARTIFACTS only.
README_IMAGES = os.environ.get("PTC_README_IMAGES")
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
SERVER_START_S = 90


def chromium_path() -> str:
    """Debian's chromium, or fail (skip only when PTC_SKIP_BROWSER=1)."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if Path(path).exists():
        return path
    message = (
        f"chromium not found at {path}: run `apt-get install -y chromium` "
        "(or set PTC_SKIP_BROWSER=1 to skip the browser tests)"
    )
    if os.environ.get("PTC_SKIP_BROWSER") == "1":
        pytest.skip(message)
    pytest.fail(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """A running `jupyter lab` whose base URL is `url`; notebooks live in `root`."""

    def __init__(self, url: str, root: Path, work: Path, proc: subprocess.Popen):
        self.url, self.root, self.work, self.proc = url, root, work, proc

    def api(self, path: str):
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            return json.loads(response.read())

    def log(self) -> str:
        return (self.work / "server.log").read_text(errors="replace")


def lab_env(work: Path) -> dict[str, str]:
    """Jupyter dirs isolated under `work`; sys.prefix paths (where the extension is) stay searched."""
    return dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(work / "config"),
        JUPYTER_RUNTIME_DIR=str(work / "runtime"),
        JUPYTER_DATA_DIR=str(work / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(work / "config" / "lab" / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(work / "config" / "lab" / "workspaces"),
        PYTHONUNBUFFERED="1",
    )


@contextmanager
def lab_server(work: Path, root: Path, *, kernels: bool) -> Iterator[LabServer]:
    """Start JupyterLab on 127.0.0.1 (as root: --allow-root). With `kernels=False` no
    kernelspec is allowed, so nothing can start a kernel."""
    labconfig = work / "config" / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    # the "get notified about Jupyter news?" toast covers the page
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--allow-root",
        f"--ServerApp.root_dir={root}",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands like a user
    ]
    if not kernels:
        cmd.append("--KernelSpecManager.allowed_kernelspecs=no-such-kernel")
    log = open(work / "server.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=lab_env(work), cwd=root)
    server = LabServer(f"http://127.0.0.1:{port}", root, work, proc)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited {proc.returncode}:\n{server.log()}")
            try:
                server.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab not up after {SERVER_START_S}s:\n{server.log()}") from None
                time.sleep(0.2)  # polling the port: there is no event to wait on
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Debian chromium (Playwright `Browser`) with a fresh profile."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"ptc-chromium-{os.getpid()}-{time.monotonic_ns()}"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


class PageWatch:
    """What a page did that a test may assert on: console errors, dialogs (alert!)."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

        def on_dialog(dialog):
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)

    def ours(self) -> list[str]:
        return [e for e in self.errors if "ptc" in e.lower()]


def open_notebook(page, server: LabServer, name: str, *, kernel: bool) -> None:
    """Open `name` in a fresh workspace. Without a kernel the 'Select Kernel' dialog comes up
    (the notebook's kernelspec is not allowed); answer it with 'No Kernel' like a user."""
    page.goto(f"{server.url}/lab/tree/{name}?reset")
    if not kernel:
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for(timeout=60_000)
        dialog.get_by_role("button", name="No Kernel").click()
        dialog.wait_for(state="detached", timeout=10_000)


def screenshot(page, name: str, locator=None, *, readme: bool = False) -> Path:
    """`name` in test-artifacts/; a README picture (`readme`) also in $PTC_README_IMAGES when set."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    (locator or page).screenshot(path=str(path))
    print(f"[artifact] {path}")
    if readme and README_IMAGES:
        target = Path(README_IMAGES) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        print(f"[readme image] {target}")
    return path
