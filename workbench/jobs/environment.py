"""Where a run happened (versions, device, machine) and where the workspace lives by default."""
from __future__ import annotations

import datetime
import os
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

APP_DIR = "certification-workbench"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _device_name(device: str) -> str:
    """A human name for the device; never raises (a report must be written even on odd setups)."""
    try:
        import torch  # lazy: the store and `workbench --help` must not pay for torch

        dev = torch.device(device or "cpu")
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                return "cuda (not available)"
            return torch.cuda.get_device_name(dev)
    except Exception as err:  # noqa: BLE001 - environment capture is best effort
        return f"{device} ({type(err).__name__})"
    return platform.processor() or platform.machine() or "cpu"


def environment(device: str = "cpu") -> dict[str, Any]:
    """Versions, device and machine of this process, for the run store and the report."""
    try:
        import torch
        torch_version = torch.__version__
        cuda = torch.version.cuda
    except Exception:  # noqa: BLE001
        torch_version, cuda = None, None
    return {
        "python": platform.python_version(),
        "torch": torch_version,
        "cuda": cuda,
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "onnx": _version("onnx"),
        "workbench": _version("certification-workbench"),
        "device": str(device or "cpu"),
        "device_name": _device_name(str(device or "cpu")),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def default_workspace() -> Path:
    """``$WORKBENCH_WORKSPACE``, else the platform's per-user data directory."""
    env = os.environ.get("WORKBENCH_WORKSPACE")
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.environ.get("APPDATA")
        return (Path(base) if base else home / "AppData" / "Local") / APP_DIR
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / APP_DIR
    xdg = os.environ.get("XDG_DATA_HOME")
    # The XDG spec says relative values are invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP_DIR
    return home / ".local" / "share" / APP_DIR


# ---------------------------------------------------------------- process liveness
# The run store marks a run "interrupted" when the process that owns it is gone. A pid alone can
# be reused by an unrelated process, so on Linux the process start time is kept beside it.

def process_token(pid: int) -> str | None:
    """An identity for ``pid`` that changes if the pid is reused (Linux start time), or None."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the command name may contain spaces
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int | None, token: str | None = None) -> bool:
    """Whether ``pid`` runs on this host and is the same process that ``token`` was taken from."""
    if not pid or pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
        if state[state.rfind(")") + 2:].startswith("Z"):  # a zombie has already ended
            return False
    except OSError:
        pass
    now = process_token(pid)
    return token is None or now is None or now == token


def _windows_alive(pid: int) -> bool:
    # os.kill on Windows terminates the process, so ask the kernel for the exit code instead.
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259
    finally:
        kernel32.CloseHandle(handle)
