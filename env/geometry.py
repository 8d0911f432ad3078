"""The coordinate contract, in one place.

Inside pixelpilot every action coordinate is in *screenshot pixels* of the observation it was
decided on: device pixels at native resolution, origin top-left. Environments convert to their
own input space here and nowhere else (Playwright: CSS px = screenshot px / device_scale_factor;
Android: device px, scale 1). Peers' clicks miss on HiDPI or resized screenshots because this
conversion is scattered; keeping it in one tested module is the point.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.tools import ActionBase


class ScreenGeometry(BaseModel):
    """Size of a screenshot and how it maps onto the environment's input space."""

    model_config = ConfigDict(frozen=True)

    width: int = Field(gt=0, description="screenshot width in device pixels")
    height: int = Field(gt=0, description="screenshot height in device pixels")
    device_scale_factor: float = Field(1.0, gt=0, description="device pixels per CSS pixel")
    viewport_width: float = Field(gt=0, description="viewport width in CSS px (device px on Android)")
    viewport_height: float = Field(gt=0, description="viewport height in CSS px (device px on Android)")

    def to_input(self, x: float, y: float) -> tuple[float, float]:
        """Screenshot px -> the env's input space (CSS px for a browser)."""
        return x / self.device_scale_factor, y / self.device_scale_factor

    def from_input(self, x: float, y: float) -> tuple[float, float]:
        """The env's input space -> screenshot px."""
        return x * self.device_scale_factor, y * self.device_scale_factor

    def contains(self, x: float, y: float) -> bool:
        return 0 <= x < self.width and 0 <= y < self.height


def out_of_bounds(action: ActionBase, geometry: ScreenGeometry) -> str | None:
    """Why an action's points fall outside the screenshot, or None when they all fit."""
    for x, y in action.points():
        if not geometry.contains(x, y):
            return (
                f"{action.action} at ({x:g}, {y:g}) is outside the "  # type: ignore[attr-defined]
                f"{geometry.width}x{geometry.height} screenshot"
            )
    return None
