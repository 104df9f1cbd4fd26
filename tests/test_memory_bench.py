"""`python -m hrm.bench memory`: a training run in a child process, its peak memory sampled from /proc, and
the checkpoint's bytes split into the puzzle table, the other weights and the optimizer state."""

import os
import subprocess
import sys
import time

import pytest

from hrm.bench.__main__ import main
from hrm.bench.memory import MB, process_tree, sampled_run
from hrm.bench.results import load_record
from hrm.errors import UserError

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="reads Linux's /proc")


def test_a_child_that_holds_memory_is_seen_at_its_peak_with_its_own_children(tmp_path):
    # a child holding 200 MB, whose own child holds 100 MB: the tree's PSS sees both, the parent's RSS its own
    holder = ("import subprocess, sys, time; b = bytearray(200 << 20); b[::4096] = b'x' * len(b[::4096]); "
              "subprocess.run([sys.executable, '-c', \"b = bytearray(100 << 20); b[::4096] = b'y' * len(b[::4096]); "
              "import time; time.sleep(1.0)\"])")
    figures = sampled_run([sys.executable, "-c", holder], dict(os.environ), tmp_path, 0.02)
    assert 200 * MB <= figures["peak_rss"] < 280 * MB
    assert figures["peak_pss"] >= 300 * MB


def test_the_tree_lists_the_descendants():
    sleeper = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(3)'])"
    child = subprocess.Popen([sys.executable, "-c", sleeper])
    try:
        for _ in range(100):
            tree = process_tree(child.pid)
            if len(tree) == 2:
                break
            time.sleep(0.05)
        assert tree[0] == child.pid and len(tree) == 2
    finally:
        child.kill()
        child.wait()


def test_a_failing_run_is_one_error(tmp_path):
    with pytest.raises(UserError, match="exit 3"):
        failing = "import sys; print('bad config'); sys.exit(3)"
        sampled_run([sys.executable, "-c", failing], dict(os.environ), tmp_path, 0.02)


def test_the_benchmark_reports_the_run_and_its_checkpoint(tmp_path):
    out = tmp_path / "bench"
    assert main(["memory", "--experiment", "arc_tiny", "--steps", "2", "--out", str(out),
                 "--variant", "model.activation_checkpointing=true", "debug=tiny"]) == 0
    rows = load_record(out / "memory.json")["rows"]
    assert [row["run"] for row in rows] == ["as configured", "model.activation_checkpointing=true"]
    for row in rows:
        assert row["peak RSS, training process (MB)"] > 100  # torch alone is more
        assert row["peak PSS, with its workers (MB)"] > 0
        assert row["puzzle table (entries)"] > 0 and row["table dtype"] == "float32"
        assert row["other weights (MB)"] > 0 and row["optimizer state (MB)"] > 0
    assert rows[0]["puzzle table (entries)"] == rows[1]["puzzle table (entries)"]
