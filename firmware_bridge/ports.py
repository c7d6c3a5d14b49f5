"""Opening a serial port, and why it did not open, in words a technician can act on.

pyserial reports every failure as a SerialException carrying the OS's wording. The cases need
different hands, so each gets its own sentence and fix: no such port (unplugged, or a wrong
name), no permission (which group to join — only then), held by another program, nothing
behind the device file, not a serial port at all, a serial server that refuses. Ports open
exclusively (a lock other programs honour), so "in use" is seen instead of two programs
talking over each other on one line.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import termios
from typing import Any

from firmware_bridge.errors import DeviceError, DeviceFault

NOTHING_BEHIND = (errno.ENXIO, errno.ENODEV, errno.EIO)
NOT_A_PORT = (errno.ENOTTY, errno.EISDIR, errno.ENOTDIR, errno.EINVAL)
BUSY = (errno.EBUSY, errno.EAGAIN)  # EAGAIN: the exclusive lock is taken
NETWORK = (errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH)


def line_errors() -> tuple[type[Exception], ...]:
    """What a serial line raises when it fails: pyserial's own errors, the OS's, and
    termios.error, which pyserial lets through on a lost port (it is no OSError)."""
    import serial

    return (serial.SerialException, OSError, termios.error)


def open_port(port: str, section: str, key: str = "port", **settings: Any) -> Any:
    """`serial.serial_for_url(port, exclusive=True, **settings)`; failures as DeviceError.

    `section` and `key` name the setting holding the port ("gate" and "port"; a serial
    scanner's is "camera" and "path")."""
    import serial

    refused: tuple[type[Exception], ...] = (*line_errors(), ValueError)  # ValueError: bad URL
    try:
        return serial.serial_for_url(port, exclusive=True, **settings)
    except refused as exc:
        raise port_error(port, section, exc, key) from None


def check_port(port: str, section: str, key: str = "port") -> None:
    """Open and close the port: raises the DeviceError a driver would meet, at once."""
    open_port(port, section, key, timeout=0).close()


def port_error(port: str, section: str, exc: BaseException, key: str = "port") -> DeviceError:
    key = f"[{section}] {key}"
    detail = str(exc)
    if isinstance(exc, ValueError):  # pyserial: an unknown URL scheme or a bad setting
        return DeviceError(
            f"{port} is neither a device path nor a pyserial URL",
            f"check {key}",
            fault=DeviceFault.WRONG_KIND,
            detail=detail,
        )
    code = _errno(exc)
    if code == errno.ENOENT:
        return DeviceError(
            f"no such port {port}",
            f"plug the adapter in, or check the port name in {key} "
            "(`ls /dev/serial/by-id` lists the adapters plugged in)",
            fault=DeviceFault.MISSING,
        )
    if code in (errno.EACCES, errno.EPERM):
        return permission_error(port, "port")
    if code in BUSY:
        return DeviceError(
            f"{port} is in use by another program",
            "the kiosk holds its ports while it runs: `sudo systemctl stop kiosk` first "
            "(`sudo fuser -v` on the port names any other program)",
            fault=DeviceFault.BUSY,
        )
    if code in NOTHING_BEHIND:
        return DeviceError(
            f"{port} is there, but no device answers behind it",
            "plug the USB adapter in again; a built-in UART must be enabled "
            "(raspi-config: Interface Options, Serial Port)",
            fault=DeviceFault.MISSING,
            detail=detail,
        )
    if code in NOT_A_PORT:
        return DeviceError(
            f"{port} is not a serial port",
            f"check {key} (`kiosk device list` shows the serial ports)",
            fault=DeviceFault.WRONG_KIND,
        )
    if code in NETWORK:
        return DeviceError(
            f"cannot reach {port}: {os.strerror(code).lower()}",
            "check that the serial server is on, and its address and port",
            detail=detail,
        )
    return DeviceError(
        f"cannot open {port}", f"check {key}; `kiosk device list` shows the ports", detail=detail
    )


def permission_error(path: str, what: str) -> DeviceError:
    """EACCES on a device file: name the group to join only when joining it would help."""
    user = _user()
    try:
        info = os.stat(path)
        group: str | None = grp.getgrgid(info.st_gid).gr_name
    except (OSError, KeyError):
        info, group = None, None
    # the group may read and write it, and this user is not in it: joining it is the fix
    if info is not None and group and info.st_mode & 0o060 == 0o060 and group not in _groups():
        return DeviceError(
            f"no permission to open {path}: user {user} is not in the {what}'s group {group}",
            f"`sudo usermod -aG {group} {user}`, then log in again",
            fault=DeviceFault.NO_PERMISSION,
        )
    mode = f"{info.st_mode & 0o777:03o}" if info is not None else "unknown"
    return DeviceError(
        f"no permission to open {path} (mode {mode}, group {group or 'unknown'})",
        f"give user {user} read and write access to it (a udev rule sets a device's group and "
        "mode)",
        fault=DeviceFault.NO_PERMISSION,
    )


def _errno(exc: BaseException) -> int | None:
    """The OS error code behind pyserial's wrapping (it keeps the cause as the context)."""
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(seen, "errno", None)
        if isinstance(code, int):
            return code
        if isinstance(seen, termios.error) and seen.args and isinstance(seen.args[0], int):
            return int(seen.args[0])
        seen = seen.__cause__ or seen.__context__
    return None


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _groups() -> set[str]:
    names = set()
    for gid in {os.getegid(), *os.getgroups()}:
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return names
