"""The browser environment (Playwright + Chromium)."""

from pixelpilot.env.browser.env import BrowserConfig, BrowserEnv

__all__ = ["BrowserConfig", "BrowserEnv"]
