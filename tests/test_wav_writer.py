"""WAV writing: a clip over full scale is turned down as a whole, not clipped, and the native runner's
writer (device_bench/src/wav.cpp) writes the same bytes as Python's."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from arc_edge.audio_io import write_wav

REPO = Path(__file__).resolve().parents[1]


def _tone(peak: float) -> np.ndarray:
    t = np.arange(4410) / 44100
    left = np.sin(2 * np.pi * 440 * t)
    right = 0.5 * np.sin(2 * np.pi * 660 * t + 0.3)
    audio = np.stack([left, right])
    return (audio * (peak / np.abs(audio).max())).astype(np.float32)


def _pcm(path: Path) -> np.ndarray:
    data, sr = sf.read(path, dtype="int16", always_2d=True)
    assert sr == 44100
    return data.T.astype(np.int64)


def test_a_clip_over_full_scale_is_turned_down_as_a_whole_not_clipped(tmp_path):
    audio = _tone(1.25)
    gain = write_wav(tmp_path / "a.wav", audio, 44100)
    assert gain == pytest.approx(0.8, rel=1e-6)
    got = _pcm(tmp_path / "a.wav")
    expected = np.rint(audio.astype(np.float64) / 1.25 * 32767)  # in float64: off by at most one step
    assert np.abs(got - expected).max() <= 1
    assert np.abs(got).max() == 32767
    # clipping would have flattened the top of every cycle (about 900 samples at full scale here)
    assert (np.abs(audio) >= 1).sum() > 800 and (np.abs(got) >= 32766).sum() < 50
    assert np.corrcoef(got[0], audio[0])[0, 1] > 0.99999


def test_a_clip_within_full_scale_is_written_as_it_is(tmp_path):
    audio = _tone(0.9)
    assert write_wav(tmp_path / "a.wav", audio, 44100) == 1.0
    got = _pcm(tmp_path / "a.wav")
    assert np.abs(got - np.rint(audio.astype(np.float64) * 32767)).max() <= 1  # float32 rounding: one step
    assert abs(np.abs(got).max() - 0.9 * 32767) <= 1


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs the host g++ (CI installs it)")
def test_native_runner_writer_writes_pythons_bytes(tmp_path):
    driver = r"""
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>
#include "wav.hpp"
int main(int argc, char** argv) {
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> x(raw.size() / 4);
  std::copy(raw.begin(), raw.begin() + x.size() * 4, reinterpret_cast<char*>(x.data()));
  std::printf("%.9g %.9g\n", arc::write_wav(argv[2], x, 2, 44100, false), arc::write_wav(argv[3], x, 2, 44100, true));
}
"""
    (tmp_path / "driver.cpp").write_text(driver)
    exe = tmp_path / "driver"
    subprocess.run(["g++", "-std=gnu++17", "-O1", "-I", str(REPO / "device_bench/src"), str(tmp_path / "driver.cpp"),
                    str(REPO / "device_bench/src/wav.cpp"), "-o", str(exe)], check=True)
    rng = np.random.default_rng(5)
    for name, audio in {"over": rng.uniform(-1.3, 1.3, (2, 999)).astype(np.float32), "within": _tone(0.7)}.items():
        audio.T.astype("<f4").tofile(tmp_path / f"{name}.f32")
        out = subprocess.run([str(exe), str(tmp_path / f"{name}.f32"), str(tmp_path / f"{name}_cpp.wav"),
                              str(tmp_path / f"{name}_cpp_float.wav")], check=True, capture_output=True, text=True)
        gains = [float(g) for g in out.stdout.split()]
        py_gain = write_wav(tmp_path / f"{name}_py.wav", audio, 44100)
        assert gains == pytest.approx([py_gain, py_gain], rel=1e-6)
        assert (tmp_path / f"{name}_cpp.wav").read_bytes() == (tmp_path / f"{name}_py.wav").read_bytes()
        floats, _ = sf.read(tmp_path / f"{name}_cpp_float.wav", dtype="float32", always_2d=True)
        peak = np.abs(audio).max()
        np.testing.assert_array_equal(floats.T, audio / peak if peak > 1 else audio)
        assert not list(tmp_path.glob("*.part"))
