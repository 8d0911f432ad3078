"""The Android environment (adb via adbutils) and the simulated device."""

from pixelpilot.env.android.env import AndroidConfig, AndroidEnv

__all__ = ["AndroidConfig", "AndroidEnv"]
