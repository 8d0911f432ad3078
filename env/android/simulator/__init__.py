"""PixelSim: a simulated Android phone that real adb tooling talks to.

It speaks the adb device-side protocol on a loopback TCP port, so ``adb connect 127.0.0.1:PORT``
(and adbutils through that adb server) treat it as a phone. Its 1080x2340 screen is a web page
rendered by headless Chromium with a launcher and its apps (Settings, Contacts, Notes, Phone and eight
one-screen apps); its shell interprets ``input``, ``screencap``, ``uiautomator dump``, ``wm``, ``getprop``,
``settings``, ``dumpsys``, ``pm``, ``am``, ``monkey``, ``ime``, ``content`` and a few coreutils, and answers
anything else like a phone's shell does (``inaccessible or not found``, status 127). It never runs a host command.

The simulator runs in its own process (``python -m pixelpilot.env.android.simulator``), so its Playwright
driver never shares a thread with a caller's. From Python::

    with start_simulator() as phone:          # port 0: a free port
        subprocess.run(["adb", "connect", phone.serial])

See README.md beside this file for the commands, apps, settings keys and resource-ids.
"""

from pixelpilot.env.android.simulator.process import SimulatorError, SimulatorHandle, start_simulator

__all__ = ["SimulatorError", "SimulatorHandle", "start_simulator"]
