"""The desktop env: X11 applications on a virtual display (Xvfb) or an explicitly named one."""

from pixelpilot.env.desktop.env import DesktopConfig, DesktopEnv

__all__ = ["DesktopConfig", "DesktopEnv"]
