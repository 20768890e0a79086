"""Faults leave nothing behind: an export killed (kill -9), terminated (SIGTERM) or interrupted
(Ctrl-C) leaves no worker process, prints at most one line, and no temporary folder survives the
next run."""

import contextlib
import os
import re
import select
import signal
import subprocess
import sys

import pytest

from arc_edge.cli import main

WORKER_LINE = re.compile(r"in a worker process \(pid (\d+)\)")


def _start_export(model_dir, out):
    """An export in its own session (so Ctrl-C can go to its whole process group), stopped once its
    lowering worker runs. -> (process, worker pid)."""
    proc = subprocess.Popen([sys.executable, "-m", "arc_edge.cli", "export", "--model", str(model_dir), "--quant",
                             "int8", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    for line in proc.stdout:  # the event: the worker has started
        found = WORKER_LINE.search(line)
        if found:
            return proc, int(found.group(1))
    pytest.fail(f"the export never started its worker: {proc.stderr.read()[-2000:]}")


def _wait_gone(pid: int, timeout: float = 30.0) -> bool:
    """Wait for a process that is not our child to end (a pidfd is readable once it has)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def _temporaries(folder, name):
    return [p.name for p in folder.iterdir() if p.name.startswith(f".{name}.arc-tmp.")]


def test_kill_9_leaves_no_worker_and_the_next_run_removes_the_temp_folder(tiny_model_dir, tmp_path):
    out = tmp_path / "bundle"
    proc, worker = _start_export(tiny_model_dir, out)
    proc.kill()
    proc.wait()
    assert _wait_gone(worker), "the lowering worker outlived its killed parent"
    assert _temporaries(tmp_path, "bundle")  # nothing could clean up after kill -9 ...
    assert main(["export", "--model", str(tiny_model_dir), "--format", "onnx", "--out", str(out)]) == 0
    assert not _temporaries(tmp_path, "bundle") and (out / "manifest.json").is_file()  # ... the next run did


def test_sigterm_cleans_up_and_says_so(tiny_model_dir, tmp_path):
    proc, worker = _start_export(tiny_model_dir, tmp_path / "bundle")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and err.strip().splitlines()[-1] == "arc-edge: terminated"
    assert "Traceback" not in err
    assert _wait_gone(worker)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_prints_one_line_and_leaves_nothing(tiny_model_dir, tmp_path):
    proc, worker = _start_export(tiny_model_dir, tmp_path / "bundle")
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does: the whole foreground group gets it
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err and err.count("arc-edge: interrupted") == 1
    assert _wait_gone(worker)
    assert list(tmp_path.iterdir()) == []


def test_a_ctrl_c_swallowed_inside_a_library_still_exits_130_and_writes_nothing(tiny_model_dir, tmp_path,
                                                                              monkeypatch, capsys):
    """A KeyboardInterrupt raised in a finaliser or caught by a library's catch-all never reaches the
    CLI; the Ctrl-C must still stop the write and give exit code 130."""
    import soundfile

    real_write = soundfile.write

    def write_then_swallow_ctrl_c(*args, **kwargs):
        real_write(*args, **kwargs)
        with contextlib.suppress(KeyboardInterrupt):  # what a finaliser or a catch-all does
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(soundfile, "write", write_then_swallow_ctrl_c)
    out = tmp_path / "x.wav"
    assert main(["generate", "a sine", "--model", str(tiny_model_dir), "--steps", "1", "--seconds", "0.2",
                 "--out", str(out)]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "arc-edge: interrupted"
    assert list(tmp_path.iterdir()) == []
