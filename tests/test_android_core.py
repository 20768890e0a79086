"""The Android app's JVM core (android_demo/core), built with javac and tested with JUnit against
golden vectors from the Python package and the native runner's C++ (tests/android_golden.py)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from android_golden import generate

from arc_edge.bench.native import summarise_runs

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "android_demo" / "core" / "src"
ORG_JSON = Path("/usr/share/java/com.android.json.jar")  # Android's org.json, for the JVM (libandroid-json-java)
JARS = [Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar")]


@pytest.fixture(scope="module", autouse=True)
def java_toolchain():
    """Missing tools fail these tests loudly (never a silent skip): .ci/run installs them."""
    missing = [tool for tool in ("javac", "java", "g++") if shutil.which(tool) is None]
    missing += [str(j) for j in (ORG_JSON, *JARS) if not j.is_file()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: apt-get install default-jdk-headless junit4 libandroid-json-java g++")


def _javac(out: Path, sources: Path, classpath: list[Path]) -> None:
    files = sorted(str(p) for p in sources.rglob("*.java"))
    cmd = ["javac", "-Xlint:all", "-Werror", "-d", str(out)]
    if classpath:
        cmd += ["-cp", ":".join(map(str, classpath))]
    res = subprocess.run(cmd + files, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr


@pytest.fixture
def golden(tmp_path_factory, et_int8_bundle):
    return generate(tmp_path_factory.mktemp("android_golden"), et_int8_bundle)


def test_jvm_core_passes_its_junit_tests_against_the_python_reference(golden, tmp_path):
    main, test = tmp_path / "main", tmp_path / "test"
    _javac(main, CORE / "main", [ORG_JSON])
    _javac(test, CORE / "test", [main, ORG_JSON, *JARS])
    classes = sorted(".".join(p.relative_to(CORE / "test" / "java").with_suffix("").parts)
                     for p in (CORE / "test").rglob("*Test.java"))
    assert len(classes) >= 6
    res = subprocess.run(["java", f"-Darcedge.golden={golden}", "-cp", ":".join(map(str, [main, test, ORG_JSON, *JARS])),
                          "org.junit.runner.JUnitCore", *classes], capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "OK (" in res.stdout
    # BenchTest wrote the report the app's benchmark entry point writes: `arc-edge bench` must read it
    report = json.loads((golden / "app_report.json").read_text())
    assert report["complete"] is True
    summary = summarise_runs(report["runs"])
    assert summary["dit_step_ms"]["n"] == 3 * report["steps"]
    assert summary["total_ms"]["median"] >= summary["decoder_ms"]["median"]
