"""Regenerate the README's pictures in docs/images, on demand, from the browser tests that take them.

    python docs/images/make_images.py                  # every picture below
    python docs/images/make_images.py chart-run.png    # just these

A normal `pytest` run writes its screenshots into test-artifacts/ (untracked) only; this runs the
tests named below with PTC_README_IMAGES set to this folder, and `conftest_browser.screenshot(...,
readme=True)` copies their README pictures here too. It needs what the browser tests need:
`pip install -e ".[test]"` and Debian's chromium. Review the new pictures, then commit them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

#: picture -> the browser test that takes it
PICTURES = {
    "chart-run.png": "tests/test_browser_live.py::"
    "test_a_chart_shows_live_in_the_saved_trace_and_after_reopening_without_a_kernel",
}


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(PICTURES))
    if unknown:
        print(f"no test takes {', '.join(unknown)}; known: {', '.join(PICTURES)}", file=sys.stderr)
        return 2
    wanted = names or list(PICTURES)
    tests = sorted({PICTURES[name] for name in wanted})
    started = time.time()
    env = dict(os.environ, PTC_README_IMAGES=str(HERE))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=ROOT, env=env)
    if done.returncode != 0:
        print("the browser tests failed: no pictures updated", file=sys.stderr)
        return done.returncode
    stale = [name for name in wanted if not (HERE / name).exists() or (HERE / name).stat().st_mtime < started]
    if stale:
        print(f"the tests passed but did not write {', '.join(stale)}", file=sys.stderr)
        return 1
    for name in wanted:
        print(f"updated {(HERE / name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
