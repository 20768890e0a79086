"""Where the native runner runs: this machine, qemu-aarch64, or a phone over adb; or, on a phone,
the Android demo app's benchmark entry point instead of the runner (``--runner app``).

Every device gets the same things: the runner folder (binary + lib/), the bundle and a prompt
file. The prompt only ever travels as a file: no user text is put on a command line or through
a shell, adb's included.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArcEdgeError
from ..fileio import sha256_file

REMOTE_ROOT = "/data/local/tmp/arc-edge"
APP_PACKAGE = "dev.arcedge.demo"
APP_FILES = f"/sdcard/Android/data/{APP_PACKAGE}/files"  # the app's external files folder
# runner option -> (am extra type, extra name) of the app's BenchActivity
APP_EXTRAS = {"--runs": ("--ei", "runs"), "--warmup": ("--ei", "warmup"), "--steps": ("--ei", "steps"),
              "--seconds": ("--ef", "seconds"), "--threads": ("--ei", "threads"), "--cfg": ("--ef", "cfg"),
              "--bundle-digest": ("--es", "bundle_digest")}
# qemu's default "max" CPU enables SME, under which XNNPACK's int8 kernels gave wrong results here
# (see README); an SME-less CPU model keeps the numerics checkable.
QEMU_CPU = "max,sme=off"
AARCH64_SYSROOT = Path("/usr/aarch64-linux-gnu")
GLIBC_RUNTIME = ("ld-linux-aarch64.so.1", "libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1",
                 "libpthread.so.0", "libdl.so.2")


class DeviceError(ArcEdgeError):
    pass


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


def _run(cmd: list[str], timeout: float | None = None, what: str = "") -> RunResult:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return RunResult(p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return RunResult(124, out, f"{what or cmd[0]} timed out after {timeout:.0f} s", timed_out=True)
    except FileNotFoundError:
        raise DeviceError(f"{cmd[0]} is not installed; install it (Debian: see README, device_bench)") from None


class LocalDevice:
    """Runs a runner folder in place, in a scratch directory on this machine."""

    name = "local"
    emulated = False
    target = "host"

    def __init__(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="arc-edge-bench-"))
        self.runner: Path | None = None
        self.bundle: Path | None = None

    def describe(self) -> dict:
        return {"device": self.name, "emulated": self.emulated}

    def prepare(self, runner_dir: Path, files: list[Path], prompt: str) -> None:
        """The runner reads the bundle in place (it verifies every file it loads itself)."""
        self.runner, self.bundle = runner_dir / "arc_runner", files[0].parent
        (self.work / "prompt.txt").write_text(prompt, encoding="utf-8")

    def _command(self, args: list[str]) -> list[str]:
        return [str(self.runner), *args]

    def run(self, options: list[str], timeout: float) -> RunResult:
        args = ["--bundle", str(self.bundle), "--prompt-file", str(self.work / "prompt.txt"),
                "--out", str(self.work / "out.wav"), "--report", str(self.work / "report.json"), *options]
        return _run(self._command(args), timeout, "the runner")

    def fetch(self, name: str, dest: Path) -> bool:
        src = self.work / name
        if not src.is_file():
            return False
        shutil.copyfile(src, dest)
        return True

    def cleanup(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


class QemuDevice(LocalDevice):
    """The aarch64 build under qemu-aarch64: real Arm code paths and numerics, emulated timings."""

    name = "qemu"
    emulated = True
    target = "aarch64"

    def _command(self, args: list[str]) -> list[str]:
        return ["qemu-aarch64", "-cpu", QEMU_CPU, "-L", str(AARCH64_SYSROOT), str(self.runner), *args]


class AdbDevice:
    """A phone (or anything adb reaches): glibc aarch64 runner started through its own loader."""

    name = "adb"
    emulated = False
    target = "aarch64"

    def __init__(self, serial: str | None = None, adb: str = "adb") -> None:
        self.adb = adb
        self.serial = self._pick(serial)
        self.remote = REMOTE_ROOT

    def _cmd(self, *args: str) -> list[str]:
        return [self.adb, "-s", self.serial, *args]

    def _shell(self, command: str, timeout: float = 60) -> RunResult:
        # Only arc-edge's own paths and options reach the device shell; each is quoted.
        return _run(self._cmd("shell", command), timeout, "adb shell")

    def _pick(self, serial: str | None) -> str:
        res = _run([self.adb, "devices"], 30, "adb devices")
        if res.returncode != 0:
            raise DeviceError(f"`adb devices` failed: {res.stderr.strip() or res.stdout.strip()}")
        devices = dict(re.findall(r"^(\S+)\s+(device|unauthorized|offline|no permissions)\b", res.stdout, re.M))
        if serial is None:
            if not devices:
                raise DeviceError("no device found by adb; connect a phone with USB debugging on (adb devices)")
            if len(devices) > 1:
                raise DeviceError(f"several devices ({', '.join(devices)}); choose one with --device adb:SERIAL")
            serial = next(iter(devices))
        state = devices.get(serial)
        if state is None:
            raise DeviceError(f"device {serial} is not connected (adb devices lists {', '.join(devices) or 'none'})")
        if state != "device":
            raise DeviceError(f"device {serial} is {state}; accept the USB debugging prompt on the phone and retry")
        return serial

    def describe(self) -> dict:
        props = {}
        for key in ("ro.product.model", "ro.product.cpu.abi", "ro.build.version.release", "ro.soc.model"):
            props[key] = self._shell(f"getprop {key}").stdout.strip()
        return {"device": f"adb:{self.serial}", "emulated": False, "properties": props}

    def _check(self, needed_bytes: int, where: str = "/data/local/tmp") -> None:
        abi = self._shell("getprop ro.product.cpu.abi").stdout.strip()
        if abi != "arm64-v8a":
            raise DeviceError(f"device {self.serial} has ABI '{abi}'; arc-edge targets arm64-v8a")
        df = self._shell(f"df -k {shlex.quote(where)}").stdout.strip().splitlines()
        try:
            free_kb = int(df[-1].split()[3])
        except (IndexError, ValueError):
            raise DeviceError(f"could not read free space on {self.serial} (df said: {' '.join(df)})") from None
        if free_kb * 1024 < needed_bytes * 1.1:
            raise DeviceError(f"device {self.serial} has {free_kb // 1024} MB free in {where}; "
                              f"{needed_bytes // 2**20} MB are needed")

    def _remote_hash(self, remote: str) -> str:
        res = self._shell(f"sha256sum {shlex.quote(remote)} 2>/dev/null")
        return res.stdout.split()[0] if res.returncode == 0 and res.stdout.strip() else ""

    def _push(self, local: Path, remote: str) -> bool:
        """Push unless the device already has the same bytes; returns whether it copied."""
        if self._remote_hash(remote) == sha256_file(local):
            return False
        res = _run(self._cmd("push", str(local), remote), 600, "adb push")
        if res.returncode != 0:
            raise DeviceError(f"adb push of {local.name} failed: {(res.stderr or res.stdout).strip().splitlines()[-1]}")
        return True

    def _deploy(self, files: list[tuple[Path, str]], prompt: str, prompt_name: str) -> None:
        """Create the folders, push what changed (counted), and the prompt as a file."""
        folders = sorted({f"{self.remote}/{Path(rel).parent}" for _, rel in files})
        res = self._shell("mkdir -p " + " ".join(shlex.quote(f) for f in folders))
        if res.returncode != 0:
            raise DeviceError(f"cannot create {self.remote} on {self.serial}: {res.stderr.strip()}")
        self.pushed = sum(self._push(local, f"{self.remote}/{rel}") for local, rel in files)
        self.skipped = len(files) - self.pushed
        with tempfile.TemporaryDirectory() as tmp:
            prompt_file = Path(tmp) / "prompt.txt"
            prompt_file.write_text(prompt, encoding="utf-8")
            self._push(prompt_file, f"{self.remote}/{prompt_name}")

    def prepare(self, runner_dir: Path, bundle_files: list[Path], prompt: str) -> None:
        files: list[tuple[Path, str]] = [(runner_dir / "arc_runner", "arc_runner")]
        files += [(p, f"lib/{p.name}") for p in sorted((runner_dir / "lib").iterdir())]
        files += [(AARCH64_SYSROOT / "lib" / n, f"lib/{n}") for n in GLIBC_RUNTIME
                  if (AARCH64_SYSROOT / "lib" / n).exists()]
        files += [(p, f"bundle/{p.name}") for p in bundle_files]
        self._check(sum(p.stat().st_size for p, _ in files))
        self._deploy(files, prompt, "prompt.txt")
        self._shell(f"chmod 755 {shlex.quote(self.remote)}/arc_runner {shlex.quote(self.remote)}/lib/ld-linux-aarch64.so.1")

    def run(self, options: list[str], timeout: float) -> RunResult:
        args = " ".join(shlex.quote(a) for a in ["--bundle", "bundle", "--prompt-file", "prompt.txt", "--out",
                                                 "out.wav", "--report", "report.json", *options])
        cmd = (f"cd {shlex.quote(self.remote)} && rm -f report.json out.wav && "
               f"./lib/ld-linux-aarch64.so.1 --library-path ./lib ./arc_runner {args}")
        return self._shell(cmd, timeout)

    def fetch(self, name: str, dest: Path) -> bool:
        res = _run(self._cmd("pull", f"{self.remote}/{name}", str(dest)), 300, "adb pull")
        return res.returncode == 0 and dest.is_file()

    def cleanup(self) -> None:
        self._shell(f"rm -rf {shlex.quote(self.remote)}")


class AppDevice(AdbDevice):
    """The demo app's BenchActivity on a phone (android_demo/): same report as arc_runner, measured
    inside the app, through ExecuTorch's Android bindings. The app must be installed."""

    target = None  # nothing to build or push but the bundle: the app carries its runtime

    def __init__(self, serial: str | None = None, adb: str = "adb", poll_s: float = 2.0) -> None:
        super().__init__(serial, adb)
        self.remote = APP_FILES
        self.poll_s = poll_s

    def describe(self) -> dict:
        return {**super().describe(), "runner": "app"}

    def prepare(self, runner_dir: Path | None, bundle_files: list[Path], prompt: str) -> None:
        if "package:" not in self._shell(f"pm path {APP_PACKAGE}").stdout:
            raise DeviceError(f"the arc-edge demo app ({APP_PACKAGE}) is not installed on {self.serial}; "
                              "build and install it (android_demo/README.md)")
        files = [(p, f"bench_bundle/{p.name}") for p in bundle_files]
        self._check(sum(p.stat().st_size for p, _ in files), self.remote)
        self._deploy(files, prompt, "bench_prompt.txt")

    def _intent_extras(self, options: list[str]) -> list[str]:
        extras = ["--es", "bundle", f"{self.remote}/bench_bundle", "--es", "prompt_file",
                  f"{self.remote}/bench_prompt.txt", "--es", "report", "report.json"]
        if "--selftest" in options:  # the runner's only flag without a value
            extras += ["--ez", "selftest", "true"]
            options = [o for o in options if o != "--selftest"]
        for flag, value in zip(options[::2], options[1::2], strict=True):
            if flag in APP_EXTRAS:
                kind, name = APP_EXTRAS[flag]
                extras += [kind, name, value]
        return extras

    def _report(self) -> dict | None:
        text = self._shell(f"cat {shlex.quote(self.remote)}/report.json 2>/dev/null").stdout
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return None

    def run(self, options: list[str], timeout: float) -> RunResult:
        """Start BenchActivity, then poll its report until it says complete or failed."""
        q = shlex.quote(self.remote)
        start = self._shell(f"rm -f {q}/report.json {q}/out.wav && am start -W -n {APP_PACKAGE}/.BenchActivity "
                            + " ".join(shlex.quote(a) for a in self._intent_extras(options)), 120)
        if start.returncode != 0 or "Error" in start.stdout:
            return RunResult(1, start.stdout, start.stderr or start.stdout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            report = self._report()
            if report and (report.get("complete") or "error" in report):
                ok = bool(report.get("complete"))
                return RunResult(0 if ok else 1, "", "" if ok else f"app: {report.get('error')}")
            time.sleep(self.poll_s)
        self._shell(f"am force-stop {APP_PACKAGE}")
        return RunResult(124, "", f"the app's benchmark did not finish within {timeout:.0f} s", timed_out=True)

    def cleanup(self) -> None:
        q = shlex.quote(self.remote)
        self._shell(f"rm -rf {q}/bench_bundle {q}/bench_prompt.txt {q}/report.json {q}/out.wav")


def open_device(spec: str, runner: str = "native"):
    if runner == "app":
        if spec != "adb" and not spec.startswith("adb:"):
            raise DeviceError("--runner app runs the Android demo app, so it needs --device adb or adb:SERIAL")
        return AppDevice(spec.split(":", 1)[1] if ":" in spec else None)
    if spec == "local":
        return LocalDevice()
    if spec == "qemu":
        return QemuDevice()
    if spec == "adb" or spec.startswith("adb:"):
        return AdbDevice(spec.split(":", 1)[1] if ":" in spec else None)
    raise DeviceError(f"unknown device '{spec}'; use local, qemu, adb or adb:SERIAL")
