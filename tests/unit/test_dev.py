"""dev.py: the bootstrap names the Debian packages to install instead of a Qt plugin error."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
assert spec and spec.loader
dev = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dev)

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6Gui.so.6 => /x/PySide6/Qt/lib/libQt6Gui.so.6 (0x00007f)
\tlibEGL.so.1 => not found
\tlibxkbcommon.so.0 => not found
\tlibfontconfig.so.1 => /lib/x86_64-linux-gnu/libfontconfig.so.1 (0x00007f)
\tlibfrobnicate.so.3 => not found
"""


def test_missing_libraries_become_one_apt_get_line() -> None:
    missing = dev.not_found(LDD)
    assert missing == ["libEGL.so.1", "libxkbcommon.so.0", "libfrobnicate.so.3"]
    advice = dev.install_advice(missing)
    assert (
        advice[0]
        == "on Debian/Ubuntu install them with: sudo apt-get install -y libegl1 libxkbcommon0"
    )
    assert "libfrobnicate.so.3" in advice[1]


def test_every_library_the_readme_names_has_its_package() -> None:
    readme = (ROOT / "README.md").read_text()
    for package in set(dev.DEBIAN_PACKAGES.values()) & {
        "libglib2.0-0",
        "libgl1",
        "libegl1",
        "libxkbcommon0",
        "libfontconfig1",
        "libdbus-1-3",
    }:
        assert package in readme


def test_qt_libraries_resolve_on_this_machine() -> None:
    # the test command itself depends on this; a missing library would be named, not crash
    assert dev.missing_system_libraries(dev.OFFSCREEN_NEEDS) == []


def test_usage_without_a_command() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "dev.py")], capture_output=True, text=True)
    assert out.returncode == 2 and "python3 dev.py run" in out.stdout


def test_the_run_command_keeps_the_bytecode_of_rewinds_modules_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A launch reads cached bytecode even where PYTHONDONTWRITEBYTECODE is set; only stale
    files are compiled again."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text("X = 1\n")
    monkeypatch.setattr(dev, "ROOT", tmp_path)
    monkeypatch.setattr(dev, "SOURCES", ("pkg",))
    monkeypatch.setattr(dev, "venv_version", lambda: sys.version_info[:2])
    dev.byte_compile()
    cached = package / "__pycache__" / f"mod.{sys.implementation.cache_tag}.pyc"
    assert cached.exists()
    first = cached.stat().st_mtime_ns
    dev.byte_compile()
    assert cached.stat().st_mtime_ns == first  # unchanged source: not compiled again
    monkeypatch.setattr(dev, "venv_version", lambda: (2, 7))
    cached.unlink()
    dev.byte_compile()
    assert not cached.exists()  # another interpreter's venv would never read it


def test_the_venv_version_is_read_from_its_config() -> None:
    assert dev.venv_version() == sys.version_info[:2]
