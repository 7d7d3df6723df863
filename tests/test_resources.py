"""Nothing is left behind: after `%unload_ext`, a kernel restart or a kernel interrupt mid-batch,
the processes the package started (emulator sandboxes, MCP servers) are gone and its ports closed.
Checked on the process table and the open sockets of a real kernel."""

from __future__ import annotations

import sys

import psutil
import pytest
from test_kernel import GATHER, ROOT, SETUP, Kernel, lasting

pytestmark = pytest.mark.kernel

MCP_ADD = f"%ptc_mcp add demo -- {sys.executable} {ROOT / 'tests' / 'servers' / 'demo_server.py'}"
GONE_WITHIN_S = 15


def family(pid: int) -> set[int]:
    """The kernel's descendants (emulator sandboxes, MCP servers), by pid."""
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def listening_ports(pid: int) -> set[int]:
    try:
        return {c.laddr.port for c in psutil.Process(pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    except psutil.NoSuchProcess:
        return set()


def assert_gone(pids: set[int]) -> None:
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=GONE_WITHIN_S)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [" ".join(p.cmdline()) for p in alive]


@pytest.fixture
def busy_kernel():
    """A kernel with the extension loaded, the offline emulator running and an MCP server added."""
    kernel = Kernel()
    try:
        kernel.ok(SETUP)
        kernel.ok(GATHER)
        kernel.ok(MCP_ADD)
        yield kernel
    finally:
        kernel.close()


def test_unload_ext_stops_the_emulator_and_the_mcp_servers(busy_kernel):
    pid = busy_kernel.km.provisioner.pid
    port = busy_kernel.value(
        "int(__import__('ptc_jupyter.host.session').host.session.emulator_url().rsplit(':', 1)[1])"
    )
    started = family(pid)
    assert len(started) >= 2 and port in listening_ports(pid)  # sandboxes and the MCP server; the emulator
    busy_kernel.ok("%unload_ext ptc_jupyter")
    assert_gone(started)
    assert port not in listening_ports(pid)


def test_a_kernel_restart_leaves_no_orphans(busy_kernel):
    pid = busy_kernel.km.provisioner.pid
    started = family(pid)
    assert len(started) >= 2
    busy_kernel.km.restart_kernel(now=False)  # a graceful shutdown, as JupyterLab's "Restart Kernel"
    assert_gone(started | {pid})


def test_a_killed_kernel_leaves_no_orphans(busy_kernel):
    pid = busy_kernel.km.provisioner.pid
    started = family(pid)
    busy_kernel.km.restart_kernel(now=True)  # no shutdown request: the kernel is killed
    assert_gone(started | {pid})


def test_an_interrupt_mid_batch_leaves_the_kernel_as_it_was(busy_kernel):
    before = busy_kernel.value("snapshot()")
    reply, _ = busy_kernel.execute(
        "%%ptc -o s\n```python\nimport asyncio\n"
        'print(await asyncio.gather(slow({"seconds": 60}), double({"x": 1})))\n```\n',
        on_message=lambda msg: _interrupt_once_started(busy_kernel, msg),
    )
    assert reply["status"] == "error"
    assert busy_kernel.value("s.status") == "cancelled"
    threads, children, tasks = busy_kernel.value("snapshot()")
    assert (lasting(threads), tasks) == (lasting(before[0]), before[2])
    assert set(children) <= set(before[1])  # no new process survived (a sandbox may have been recycled)


def _interrupt_once_started(kernel: Kernel, msg: dict) -> None:
    if msg["msg_type"] == "stream" and "slow started" in msg["content"].get("text", ""):
        kernel.km.interrupt_kernel()
