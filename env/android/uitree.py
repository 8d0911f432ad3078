"""The UI hierarchy from ``uiautomator dump``, parsed into elements.

Used by success checks (an element with this text exists, is checked...) and for debugging;
bounds are device pixels, which on Android are screenshot pixels.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from pydantic import BaseModel

_BOUNDS = re.compile(r"\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]")
_ATTRIBUTE_VALUE = re.compile(r'="[^"<]*"')


class UIElement(BaseModel):
    index: int
    text: str = ""
    resource_id: str = ""
    content_desc: str = ""
    class_name: str = ""
    package: str = ""
    bounds: tuple[int, int, int, int] = (0, 0, 0, 0)
    clickable: bool = False
    checkable: bool = False
    checked: bool = False
    focused: bool = False
    enabled: bool = True
    selected: bool = False
    password: bool = False
    depth: int = 0

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.bounds
        return (x1 + x2) / 2, (y1 + y2) / 2

    def label(self) -> str:
        return self.text or self.content_desc or self.resource_id.rsplit("/", 1)[-1]

    @property
    def is_text_field(self) -> bool:
        """An editable text view. Views report their accessibility class, which is ``android.widget.EditText``
        for EditText and its subclasses (AutoCompleteTextView...), Compose text fields and WebView inputs."""
        return self.class_name.endswith("EditText") or self.class_name.endswith("AutoCompleteTextView")

    def field_id(self) -> str:
        """What names a text field in results: its resource-id, else its class and top-left corner."""
        return self.resource_id or f"{self.class_name}@[{self.bounds[0]},{self.bounds[1]}]"


def focused_text_field(elements: list[UIElement]) -> UIElement | None:
    """The text field that has input focus (the one typed text goes to), if any."""
    return next((e for e in elements if e.focused and e.is_text_field), None)


def _keep_whitespace(match: re.Match[str]) -> str:
    return match.group(0).replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")


def parse_hierarchy(xml: str) -> list[UIElement]:
    """Flatten a uiautomator dump; raises ValueError on text that is not a hierarchy."""
    start = xml.find("<?xml")
    if start < 0:
        start = xml.find("<hierarchy")
    end = xml.rfind("</hierarchy>")
    if start < 0 or end < 0:
        raise ValueError(f"not a uiautomator dump: {xml[:120]!r}")
    # Android's serializer writes a tab or newline inside an attribute value as a character reference; one
    # written raw would reach us as a space (XML normalises attribute values), so it is made a reference first
    document = _ATTRIBUTE_VALUE.sub(_keep_whitespace, xml[start : end + len("</hierarchy>")])
    root = ET.fromstring(document)
    out: list[UIElement] = []

    def walk(node: ET.Element, depth: int) -> None:
        for child in node:
            if child.tag != "node":
                continue
            a = child.attrib
            m = _BOUNDS.match(a.get("bounds", ""))
            out.append(
                UIElement(
                    index=len(out),
                    text=a.get("text", ""),
                    resource_id=a.get("resource-id", ""),
                    content_desc=a.get("content-desc", ""),
                    class_name=a.get("class", ""),
                    package=a.get("package", ""),
                    bounds=tuple(int(v) for v in m.groups()) if m else (0, 0, 0, 0),  # type: ignore[arg-type]
                    clickable=a.get("clickable") == "true",
                    checkable=a.get("checkable") == "true",
                    checked=a.get("checked") == "true",
                    focused=a.get("focused") == "true",
                    enabled=a.get("enabled", "true") == "true",
                    selected=a.get("selected") == "true",
                    password=a.get("password") == "true",
                    depth=depth,
                )
            )
            walk(child, depth + 1)

    walk(root, 0)
    return out
