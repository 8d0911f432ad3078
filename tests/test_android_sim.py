"""PixelSim, the simulated phone, through the real adb server and adbutils.

Everything goes over the wire: ``adb connect 127.0.0.1:PORT`` to the simulator's adb device
protocol, then adbutils (or the adb CLI) through the adb server on 5037. The shell-parsing tests at the
bottom need no adb: they run the simulator's shell directly.
"""

from __future__ import annotations

import asyncio
import io
import re
import shlex
import shutil
import socket
import struct
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

adbutils = pytest.importorskip("adbutils")

from pixelpilot.env.android.simulator import SimulatorHandle, start_simulator  # noqa: E402
from pixelpilot.env.android.simulator.coreutils import BUILTINS  # noqa: E402
from pixelpilot.env.android.simulator.filesystem import VirtualFS  # noqa: E402
from pixelpilot.env.android.simulator.shell import Shell  # noqa: E402

ADB = shutil.which("adb") or adbutils.adb_path()
HOSTILE = "a; rm -rf / $(reboot) `id` \"q\" 'x' & | > <"
SETTINGS = "com.pixelsim.settings"
NOTES = "com.pixelsim.notes"
CONTACTS = "com.pixelsim.contacts"

pytestmark = pytest.mark.timeout(120)


# --------------------------------------------------------------------------- fixtures and helpers
def adb(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([ADB, *args], capture_output=True, timeout=timeout)


def adb_state(serial: str) -> str | None:
    """The serial's state in ``adb devices`` (device, offline, ...), None when absent."""
    for line in adb("devices").stdout.decode().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == serial:
            return parts[1]
    return None


def connect(serial: str, timeout: float = 20) -> None:
    """``adb connect`` and wait until the server reports the transport as ``device``.

    A transport adb already knows but lost ("already connected", state offline) comes back only when
    adb's reconnect loop retries, seconds later; disconnecting first reconnects at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        if adb_state(serial) == "offline":
            adb("disconnect", serial)
        out = adb("connect", serial).stdout.decode()
        for _ in range(10):
            if adb_state(serial) == "device":
                return
            time.sleep(0.1)
        if time.monotonic() > deadline:
            raise AssertionError(f"adb connect {serial} did not come up: {out!r}, state {adb_state(serial)}")


@pytest.fixture(scope="session")
def adb_server() -> Iterator[adbutils.AdbClient]:
    result = adb("start-server", timeout=60)
    assert result.returncode == 0, result.stderr
    yield adbutils.AdbClient(host="127.0.0.1", port=5037)


@pytest.fixture(scope="module")
def phone(adb_server: adbutils.AdbClient) -> Iterator[SimulatorHandle]:
    handle = start_simulator()
    try:
        connect(handle.serial)
        yield handle
    finally:
        handle.stop()
        adb("disconnect", handle.serial)


@pytest.fixture
def d(phone: SimulatorHandle, adb_server: adbutils.AdbClient) -> adbutils.AdbDevice:
    """The phone, back on the launcher with every app stopped."""
    device = adb_server.device(phone.serial)
    device.shell(f"am force-stop {SETTINGS}; am force-stop {NOTES}; am force-stop {CONTACTS}; input keyevent HOME")
    return device


def hierarchy(d: adbutils.AdbDevice) -> ET.Element:
    out = d.shell("uiautomator dump /dev/tty", encoding=None)
    return ET.fromstring(out.rsplit(b"UI hierchary dumped to:", 1)[0])


def node(root: ET.Element, **attrs: str) -> ET.Element:
    for n in root.iter("node"):
        if all(n.get(k.replace("_", "-")) == v for k, v in attrs.items()):
            return n
    raise AssertionError(f"no node with {attrs}")


def texts(root: ET.Element, resource_id: str) -> list[str]:
    return [n.get("text", "") for n in root.iter("node") if n.get("resource-id") == resource_id]


def centre(n: ET.Element) -> tuple[int, int]:
    x1, y1, x2, y2 = map(int, re.findall(r"\d+", n.get("bounds", "")))
    return (x1 + x2) // 2, (y1 + y2) // 2


def focus(d: adbutils.AdbDevice) -> str:
    m = re.search(r"mCurrentFocus=Window\{\S+ u0 (\S+)\}", d.shell("dumpsys window"))
    assert m, "no mCurrentFocus"
    return m.group(1)


# --------------------------------------------------------------------------- identity and screen
def test_identity_through_adb(d: adbutils.AdbDevice, phone: SimulatorHandle) -> None:
    assert d.shell("wm size") == "Physical size: 1080x2340"
    assert d.shell("wm density") == "Physical density: 440"
    assert d.shell("getprop ro.product.model") == "PixelSim"
    assert d.prop.get("ro.build.version.sdk") == "34"
    assert d.window_size() == (1080, 2340)
    assert d.rotation() == 0
    assert "shell_v2" in d.get_features()
    listing = adb("devices", "-l").stdout.decode()
    assert re.search(rf"{re.escape(phone.serial)}\s+device .*model:PixelSim", listing)
    assert "[ro.serialno]: [PIXELSIM" in d.shell("getprop")


def test_screencap_png_and_raw_show_the_launcher(d: adbutils.AdbDevice, phone: SimulatorHandle) -> None:
    png = Image.open(io.BytesIO(d.shell("screencap -p", encoding=None)))
    assert png.size == (1080, 2340)
    raw = adb("-s", phone.serial, "exec-out", "screencap").stdout
    width, height, fmt, colorspace = struct.unpack("<4I", raw[:16])
    assert (width, height, fmt, colorspace) == (1080, 2340, 1, 1)
    assert len(raw) == 16 + width * height * 4
    pixels = Image.frombuffer("RGBA", (width, height), raw[16:], "raw", "RGBA", 0, 1)
    # the same frame both ways, pixel for pixel
    assert ImageChops.difference(pixels.convert("RGB"), png.convert("RGB")).getbbox() is None
    # not blank: the launcher's blue wallpaper, white clock digits, coloured icons
    r, _, b = pixels.convert("RGB").getpixel((540, 1500))
    assert b > r + 60 and b > 100
    assert max(ImageStat.Stat(pixels.convert("L")).stddev) > 20


def test_tap_on_settings_icon_opens_settings(d: adbutils.AdbDevice) -> None:
    icon = node(hierarchy(d), text="Settings", package="com.pixelsim.launcher")
    d.click(*centre(icon))
    assert focus(d) == f"{SETTINGS}/{SETTINGS}.SettingsActivity"
    assert d.app_current().package == SETTINGS
    d.keyevent("KEYCODE_BACK")
    assert focus(d).startswith("com.pixelsim.launcher/")


def test_wifi_switch_is_bound_to_its_setting(d: adbutils.AdbDevice) -> None:
    d.shell(f"am start -n {SETTINGS}/.SettingsActivity")
    assert d.shell("settings get global wifi_on") == "1"
    switch = node(hierarchy(d), resource_id=f"{SETTINGS}:id/wifi_switch")
    assert switch.get("class") == "android.widget.Switch" and switch.get("checked") == "true"
    d.click(*centre(switch))
    assert d.shell("settings get global wifi_on") == "0"
    assert node(hierarchy(d), resource_id=f"{SETTINGS}:id/wifi_switch").get("checked") == "false"
    d.click(*centre(switch))
    assert d.shell("settings get global wifi_on") == "1"
    # and the other way: a shell write shows on screen
    d.shell("settings put global bluetooth_on 1")
    assert node(hierarchy(d), resource_id=f"{SETTINGS}:id/bluetooth_switch").get("checked") == "true"
    d.shell("settings put global bluetooth_on 0")


def test_hostile_text_types_literally(d: adbutils.AdbDevice) -> None:
    d.shell(f"am start -n {NOTES}/.EditNoteActivity")
    field = node(hierarchy(d), resource_id=f"{NOTES}:id/note_text")
    d.click(*centre(field))
    result = d.shell2(["input", "text", HOSTILE])  # adbutils quotes each argument with shlex.quote
    assert result.returncode == 0, result.output
    field = node(hierarchy(d), resource_id=f"{NOTES}:id/note_text")
    assert field.get("text") == HOSTILE
    assert field.get("focused") == "true"
    d.keyevent("KEYCODE_ENTER")  # saves the note
    assert HOSTILE in texts(hierarchy(d), f"{NOTES}:id/note_title")


def test_unquoted_metacharacters_are_shell_syntax_not_text(d: adbutils.AdbDevice) -> None:
    """What a forgotten quote does on a phone: the rest of the line becomes commands (interpreted, never run)."""
    result = d.shell2("input text a; reboot")
    assert result.returncode == 127
    assert "/system/bin/sh: reboot: inaccessible or not found" in result.output


def test_non_ascii_input_text_fails_like_a_phone(d: adbutils.AdbDevice) -> None:
    result = d.shell2(["input", "text", "héllo"], v2=True)
    assert result.returncode == 255
    assert "Exception occurred while executing 'text'" in result.stderr
    assert "com.android.adbkeyboard/.AdbIME" not in d.shell("ime list -s")


def test_uiautomator_dump_file_and_tap_at_bounds(d: adbutils.AdbDevice) -> None:
    d.shell(f"am start -n {CONTACTS}/.ContactsActivity")
    assert d.shell("uiautomator dump") == "UI hierchary dumped to: /sdcard/window_dump.xml"
    root = ET.fromstring(d.shell("cat /sdcard/window_dump.xml", encoding=None))
    assert root.tag == "hierarchy" and root.get("rotation") == "0"
    assert "Alice Johnson" in texts(root, f"{CONTACTS}:id/contact_name")
    button = node(root, resource_id=f"{CONTACTS}:id/add_contact")
    assert button.get("class") == "android.widget.Button" and button.get("clickable") == "true"
    x1, y1, x2, y2 = map(int, re.findall(r"\d+", button.get("bounds", "")))
    assert 0 <= x1 < x2 <= 1080 and 0 <= y1 < y2 <= 2340
    d.click(*centre(button))
    assert focus(d) == f"{CONTACTS}/{CONTACTS}.EditContactActivity"
    root = hierarchy(d)
    d.click(*centre(node(root, resource_id=f"{CONTACTS}:id/name")))
    d.shell(["input", "text", "Zoe%sQuinn"])  # %s is a space, as on Android
    d.keyevent("KEYCODE_ENTER")  # next field
    d.shell(["input", "text", "555-0199"])
    d.click(*centre(node(hierarchy(d), resource_id=f"{CONTACTS}:id/save")))
    root = hierarchy(d)
    assert "Zoe Quinn" in texts(root, f"{CONTACTS}:id/contact_name")
    assert "555-0199" in texts(root, f"{CONTACTS}:id/contact_phone")
    # adbutils' own dump goes through a file and the sync service
    assert "Zoe Quinn" in d.dump_hierarchy()


def test_long_press_swipe_back_and_home(d: adbutils.AdbDevice) -> None:
    d.app_start(NOTES)  # monkey -p ... 1
    assert d.app_current().package == NOTES
    root = hierarchy(d)
    first = texts(root, f"{NOTES}:id/note_title")
    assert node(root, resource_id=f"{NOTES}:id/note_list").get("scrollable") == "true"
    d.swipe(540, 1900, 540, 700, 0.2)
    after = texts(hierarchy(d), f"{NOTES}:id/note_title")
    assert after[0] != first[0] and after[-1] not in first
    row = node(hierarchy(d), resource_id=f"{NOTES}:id/note_row")
    x, y = centre(row)
    d.shell(f"input swipe {x} {y} {x} {y} 800")  # a long press
    assert node(hierarchy(d), resource_id="android:id/message").get("text") == "Delete this note?"
    d.keyevent("KEYCODE_BACK")  # closes the dialog only
    root = hierarchy(d)
    assert not [n for n in root.iter("node") if n.get("resource-id") == "android:id/message"]
    assert d.app_current().package == NOTES
    d.keyevent(3)  # HOME
    assert d.app_current().package == "com.pixelsim.launcher"


def test_unsupported_commands_fail_with_127(d: adbutils.AdbDevice, phone: SimulatorHandle) -> None:
    for v2 in (False, True):
        result = d.shell2("frobnicate --now", v2=v2)
        assert result.returncode == 127
        assert "/system/bin/sh: frobnicate: inaccessible or not found" in result.output
    cli = adb("-s", phone.serial, "shell", "frobnicate")
    assert cli.returncode == 127
    assert b"inaccessible or not found" in cli.stderr
    assert d.shell2("wm size 720x1280").returncode != 0  # supported command, unsupported option
    refused = d.shell2("if true; then echo x; fi", v2=True)  # v2: a syntax error also eats adbutils' v1 marker
    assert refused.returncode == 1 and "not supported by the PixelSim shell" in refused.stderr


def test_sleep_really_sleeps_and_other_streams_go_on(d: adbutils.AdbDevice) -> None:
    done: dict[str, float] = {}

    def sleeper() -> None:
        t = time.monotonic()
        d.shell("sleep 1.5")
        done["sleep"] = time.monotonic() - t

    thread = threading.Thread(target=sleeper)
    thread.start()
    time.sleep(0.2)
    t = time.monotonic()
    assert d.shell("echo quick") == "quick"
    assert time.monotonic() - t < 1.0
    thread.join(10)
    assert 1.4 < done["sleep"] < 5
    with pytest.raises(adbutils.AdbTimeout):
        d.shell("sleep 30", timeout=0.5)
    assert d.shell("echo still here") == "still here"


def test_rotation_setting_rotates_screen_and_input(d: adbutils.AdbDevice, phone: SimulatorHandle) -> None:
    d.shell("settings put system user_rotation 1")
    try:
        assert d.rotation() == 1
        assert d.window_size() == (2340, 1080)
        assert "mCurrentRotation=ROTATION_90" in d.shell("dumpsys window displays")
        raw = adb("-s", phone.serial, "exec-out", "screencap").stdout
        assert struct.unpack("<2I", raw[:8]) == (2340, 1080)
        assert hierarchy(d).get("rotation") == "1"
    finally:
        d.shell("settings put system user_rotation 0")
    assert d.window_size() == (1080, 2340)


def test_file_sync_push_pull(d: adbutils.AdbDevice, phone: SimulatorHandle, tmp_path: Path) -> None:
    src = tmp_path / "hello.txt"
    src.write_text("hello phone\n")
    assert adb("-s", phone.serial, "push", str(src), "/sdcard/Download/hello.txt").returncode == 0
    assert d.shell("cat /sdcard/Download/hello.txt") == "hello phone"
    d.shell("screencap -p /sdcard/shot.png")
    assert adb("-s", phone.serial, "pull", "/sdcard/shot.png", str(tmp_path / "shot.png")).returncode == 0
    assert Image.open(tmp_path / "shot.png").size == (1080, 2340)
    assert adb("-s", phone.serial, "push", str(src), "/system/hello.txt").returncode != 0


def test_stop_goes_offline_and_restart_reconnects(adb_server: adbutils.AdbClient) -> None:
    """Its own phone: stop it (adb loses the device), start again on the same port, with ADB Keyboard."""
    first = start_simulator()
    serial, port = first.serial, first.port
    try:
        connect(serial)
        assert adb_server.device(serial).shell("echo up") == "up"
        first.stop()
        deadline = time.monotonic() + 10
        while adb_state(serial) == "device" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert adb_state(serial) in (None, "offline")
        with pytest.raises(adbutils.AdbError):
            adb_server.device(serial).shell("echo gone", timeout=5)

        second = start_simulator(port=port, adb_keyboard=True)
        try:
            assert second.serial == serial
            connect(serial)
            d = adb_server.device(serial)
            assert "com.android.adbkeyboard/.AdbIME" in d.shell("ime list -s")
            d.shell(f"am start -n {NOTES}/.EditNoteActivity")
            d.click(*centre(node(hierarchy(d), resource_id=f"{NOTES}:id/note_text")))
            out = d.shell(["am", "broadcast", "-a", "ADB_INPUT_TEXT", "--es", "msg", "héllo 你好"])
            assert "Broadcast completed: result=0" in out
            assert node(hierarchy(d), resource_id=f"{NOTES}:id/note_text").get("text") == "héllo 你好"
        finally:
            second.stop()
    finally:
        first.stop()
        adb("disconnect", serial)


# --------------------------------------------------------------------------- the shell, without adb
def sh(line: str, fs: VirtualFS | None = None) -> tuple[int, str, str]:
    out: list[bytes] = []
    err: list[bytes] = []

    async def run() -> int:
        async def o(data: bytes) -> None:
            out.append(data)

        async def e(data: bytes) -> None:
            err.append(data)

        return await Shell(BUILTINS, fs or VirtualFS()).run(line, o, e)

    status = asyncio.run(run())
    return status, b"".join(out).decode(), b"".join(err).decode()


@pytest.mark.parametrize(
    ("line", "status", "stdout"),
    [
        ("echo " + shlex.quote(HOSTILE), 0, HOSTILE + "\n"),
        ("echo a  b;   echo X4EXIT:$?", 0, "a b\nX4EXIT:0\n"),
        ("nope; echo X4EXIT:$?", 0, "X4EXIT:127\n"),
        ("false && echo no || echo yes", 0, "yes\n"),
        ('x="a  b"; echo $x "$x"', 0, "a b a  b\n"),
        ("echo $(echo one   two) `echo three`", 0, "one two three\n"),
        ("echo 'a\"b' \"c'd\" e\\ f \\$HOME", 0, "a\"b c'd e f $HOME\n"),
        ("echo hi > /sdcard/f; cat /sdcard/f /sdcard/f", 0, "hi\nhi\n"),
        ("echo a | grep -c a", 0, "1\n"),
        ("echo 'unterminated", 1, ""),
        ("for i in 1 2; do echo $i; done", 1, ""),
        ("echo $((1+1))", 1, ""),
        ("echo x > /system/f", 1, ""),
        ("exit 3; echo never", 3, ""),
    ],
)
def test_shell_parses_like_sh(line: str, status: int, stdout: str) -> None:
    got_status, got_out, _ = sh(line)
    assert (got_status, got_out) == (status, stdout)


def test_shell_never_runs_host_commands(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    status, _, err = sh(f'touch {marker}; $(touch {marker}); `touch {marker}`; python3 -c \'open("{marker}","w")\'')
    assert not marker.exists()
    assert "python3: inaccessible or not found" in err
    assert status == 127


def test_a_second_connection_speaks_the_wire_protocol(phone: SimulatorHandle, d: adbutils.AdbDevice) -> None:
    """A raw client beside the adb server's transport: CNXN, OPEN, WRTE/OKAY, shell v2 packets, CLSE."""

    def message(command: bytes, arg0: int, arg1: int, payload: bytes = b"") -> bytes:
        cmd = struct.unpack("<I", command)[0]
        return struct.pack("<6I", cmd, arg0, arg1, len(payload), 0, cmd ^ 0xFFFFFFFF) + payload

    def receive(sock: socket.socket) -> tuple[bytes, int, int, bytes]:
        header = b""
        while len(header) < 24:
            header += sock.recv(24 - len(header))
        cmd, arg0, arg1, length, _, magic = struct.unpack("<6I", header)
        assert magic == cmd ^ 0xFFFFFFFF
        payload = b""
        while len(payload) < length:
            payload += sock.recv(length - len(payload))
        return struct.pack("<I", cmd), arg0, arg1, payload

    with socket.create_connection((phone.host, phone.port), timeout=10) as sock:
        sock.sendall(message(b"CNXN", 0x01000001, 1024 * 1024, b"host::features=shell_v2\0"))
        cmd, version, maxdata, banner = receive(sock)
        assert (cmd, version, maxdata) == (b"CNXN", 0x01000001, 256 * 1024)
        assert banner.startswith(b"device::") and b"ro.product.model=PixelSim" in banner
        sock.sendall(message(b"OPEN", 7, 0, b"shell,v2,raw:echo hi; echo oops >&2; exit 3\0"))
        cmd, local, remote, _ = receive(sock)
        assert (cmd, remote) == (b"OKAY", 7)
        stream = b""
        while True:
            cmd, arg0, arg1, payload = receive(sock)
            if cmd == b"CLSE":
                break
            assert cmd == b"WRTE" and (arg0, arg1) == (local, 7)
            stream += payload
            sock.sendall(message(b"OKAY", 7, local))
        packets = []
        while stream:
            kind, size = struct.unpack("<BI", stream[:5])
            packets.append((kind, stream[5 : 5 + size]))
            stream = stream[5 + size :]
        assert packets == [(1, b"hi\n"), (2, b"oops\n"), (3, b"\x03")]
        sock.sendall(message(b"OPEN", 8, 0, b"reboot:\0"))
        assert receive(sock)[:3] == (b"CLSE", 0, 8)  # not a service this device offers
    assert d.shell("echo adb still fine") == "adb still fine"
