"""The browser environment (Playwright + Chromium)."""

from env.browser.env import BrowserConfig, BrowserEnv

__all__ = ["BrowserConfig", "BrowserEnv"]
