#!/usr/bin/env python3
"""Rewind's two commands: ``python3 dev.py run`` and ``python3 dev.py test``.

Each creates the virtual environment (.venv) and installs the pinned dependencies of
pyproject.toml on first use (and again whenever pyproject.toml changes), checks the system
libraries Qt needs and says exactly what to install when one is missing, then runs.
Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import compileall
import contextlib
import hashlib
import os
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".rewind-installed"

# Shared libraries Qt loads on Linux, and the Debian/Ubuntu package that provides each.
DEBIAN_PACKAGES = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb.so.1": "libxcb1",
}

# Qt libraries and plugins whose dependencies must resolve: offscreen for tests and headless
# screenshots, xcb for a real window.
OFFSCREEN_NEEDS = [
    "lib/libQt6Gui.so.6",
    "lib/libQt6Widgets.so.6",
    "plugins/platforms/libqoffscreen.so",
]
WINDOW_NEEDS = [*OFFSCREEN_NEEDS, "plugins/platforms/libqxcb.so", "lib/libQt6XcbQpa.so.6"]


HEADLESS_COMMANDS = {"inspect", "state", "branch", "diff", "export", "generate"}


def say(message: str) -> None:
    print(f"[rewind] {message}", file=sys.stderr, flush=True)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 is
        sys.exit(f"[rewind] Python 3.11 or newer is needed; this is {sys.version.split()[0]}.")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PY.exists():
        say(f"creating the virtual environment in {VENV} (first use)")
        try:
            venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
        except (subprocess.CalledProcessError, OSError) as exc:
            sys.exit(
                f"[rewind] could not create {VENV}: {exc}\n"
                "On Debian/Ubuntu install the venv module: sudo apt-get install python3-venv"
            )
    say("installing the pinned dependencies of pyproject.toml (first use; a few minutes)")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pip = [str(PY), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    # The dependencies only: the code runs from this folder, never from a stale installed copy.
    if subprocess.call([*pip, "install", *requirements], cwd=ROOT) != 0:
        sys.exit("[rewind] installing the dependencies failed; see pip's message above.")
    STAMP.write_text(wanted + "\n")


def qt_root() -> Path | None:
    out = subprocess.run(
        [str(PY), "-c", "import PySide6, os; print(os.path.dirname(PySide6.__file__))"],
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip()) if out.returncode == 0 else None


def missing_system_libraries(needs: list[str]) -> list[str]:
    """Shared libraries Qt needs that the dynamic loader cannot find (Linux only)."""
    if not sys.platform.startswith("linux"):
        return []
    root = qt_root()
    if root is None:
        return []
    missing: set[str] = set()
    for rel in needs:
        target = root / "Qt" / rel
        if not target.exists():
            continue
        try:
            out = subprocess.run(["ldd", str(target)], capture_output=True, text=True).stdout
        except OSError:  # no ldd: let Qt speak for itself
            return []
        missing.update(not_found(out))
    return sorted(missing)


def not_found(ldd_output: str) -> list[str]:
    """Library names ``ldd`` could not resolve."""
    return re.findall(r"^\s*(\S+) => not found", ldd_output, re.MULTILINE)


def install_advice(missing: list[str]) -> list[str]:
    """What to tell the user: the exact apt-get line, and libraries we know no package for."""
    packages = sorted({DEBIAN_PACKAGES[lib] for lib in missing if lib in DEBIAN_PACKAGES})
    unknown = [lib for lib in missing if lib not in DEBIAN_PACKAGES]
    lines = []
    if packages:
        lines.append(
            f"on Debian/Ubuntu install them with: sudo apt-get install -y {' '.join(packages)}"
        )
    if unknown:
        lines.append(f"(no package known for {', '.join(unknown)}: install what provides it)")
    return lines


def check_qt(needs: list[str], purpose: str) -> bool:
    missing = missing_system_libraries(needs)
    if not missing:
        return True
    say(f"Qt cannot {purpose}: these system libraries are missing: {', '.join(missing)}")
    for line in install_advice(missing):
        say(line)
    return False


def run(args: list[str]) -> int:
    ensure_venv()
    headless = bool(args) and args[0] in {
        "inspect",
        "state",
        "branch",
        "diff",
        "export",
        "generate",
    }
    if not headless:
        if not check_qt(OFFSCREEN_NEEDS, "start"):
            return 1
        has_display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        if has_display and not check_qt(WINDOW_NEEDS, "open a window"):
            return 1
    if not args:
        args = [str(ROOT / "resources" / "demo" / "shop.jsonl")]
    byte_compile()
    return subprocess.call([str(PY), str(ROOT / "main.py"), *args], cwd=ROOT)


SOURCES = ("app", "models", "replay_engine", "views")


def byte_compile() -> None:
    """Keep the bytecode of Rewind's own modules cached, as pip does for what it installs: a
    launch then reads ~100 modules instead of compiling them (a quarter of a second), even
    where PYTHONDONTWRITEBYTECODE keeps Python from writing the cache itself. Only changed
    files are compiled; a failure (a read-only checkout) just costs that quarter second."""
    if sys.version_info[:2] != venv_version():
        return  # another interpreter's cache would never be read
    with contextlib.suppress(OSError):
        for folder in SOURCES:
            compileall.compile_dir(ROOT / folder, quiet=2)


def venv_version() -> tuple[int, int] | None:
    config = VENV / "pyvenv.cfg"
    with contextlib.suppress(OSError, ValueError):
        for line in config.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version", "version_info"):
                major, minor = value.strip().split(".")[:2]
                return int(major), int(minor)
    return None


def test(args: list[str]) -> int:
    ensure_venv()
    if not check_qt(OFFSCREEN_NEEDS, "run the GUI tests"):
        return 1
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    checks = [
        ("ruff", [str(BIN / "ruff"), "check", "."]),
        ("ruff format", [str(BIN / "ruff"), "format", "--check", "."]),
        ("mypy", [str(BIN / "mypy"), "models", "replay_engine"]),
        ("import-linter", [str(BIN / "lint-imports")]),
    ]
    failed = []
    for name, cmd in checks:
        say(f"{name}: {' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))}")
        if subprocess.call(cmd, cwd=ROOT, env=env) != 0:
            failed.append(name)
    say("pytest")
    code = subprocess.call([str(PY), "-m", "pytest", *args], cwd=ROOT, env=env)
    if failed:
        say(f"failed checks: {', '.join(failed)}")
        return code or 1
    return code


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test"}:
        print(__doc__.strip().splitlines()[0])
        print("usage: python3 dev.py run [LOG | COMMAND ...]  launch the app (default: demo log)")
        print("       python3 dev.py test [PYTEST ARGS ...]    lint, type-check, run every test")
        return 2
    return run(argv[1:]) if argv[0] == "run" else test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
