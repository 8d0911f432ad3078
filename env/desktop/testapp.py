"""The project's own X11 test application (Tk): a probe that reports every input it receives, and a form.

``probe`` lays out named targets (click, double, right, middle, hover, drag source and drop zone,
scroll, a text entry) and writes one JSON line per event to ``--report``: pointer presses and
releases with their root-window position and the target under them, double clicks, wheel clicks,
hovers (a target entered) and the entry's text after every change. Tests compare these with the
actions they sent, which pins the coordinate contract and exact typing down on a real X client.
Its first line is the layout: each target's bounds in root-window pixels.

``form`` is the example tasks' app: a name field, a checkbox, a Submit button that writes
``form.json`` into the current folder, and a help label whose tooltip opens on hover only.

Run with any Python that has tkinter: ``python -m pixelpilot.env.desktop.testapp probe --report r.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tkinter as tk
from pathlib import Path
from typing import Any

TARGETS = (
    ("click", "#e04040"),
    ("double", "#40a040"),
    ("right", "#4040e0"),
    ("middle", "#e0a020"),
    ("hover", "#a040a0"),
    ("drag_source", "#20a0a0"),
    ("drop", "#808020"),
    ("scroll", "#606060"),
)


class Reporter:
    def __init__(self, path: Path | None) -> None:
        self.file = open(path, "a", encoding="utf-8") if path else None

    def __call__(self, **record: Any) -> None:
        if self.file is not None:
            self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.file.flush()


def _target_at(root: tk.Tk, x: int, y: int) -> str | None:
    widget = root.winfo_containing(x, y)
    while widget is not None:
        name = str(widget).rsplit(".", 1)[-1]
        if name in dict(TARGETS) or name == "entry":
            return name
        widget = widget.master
    return None


def probe(root: tk.Tk, report: Reporter) -> None:
    root.title("pixelpilot probe")
    frame = tk.Frame(root, bg="white")
    frame.pack(fill="both", expand=True)
    for i, (name, color) in enumerate(TARGETS):
        target = tk.Frame(frame, name=name, bg=color, width=160, height=100)
        target.grid(row=i // 4, column=i % 4, padx=24, pady=24)
        target.bind("<Enter>", lambda e, n=name: report(event="enter", target=n, x=e.x_root, y=e.y_root))
    text = tk.StringVar(root)
    entry = tk.Entry(frame, name="entry", textvariable=text, width=40, font=("Noto Sans CJK JP", 14))
    entry.grid(row=2, column=0, columnspan=4, pady=24)
    text.trace_add("write", lambda *_: report(event="text", value=text.get()))

    def press(e: tk.Event) -> None:
        report(event="press", button=e.num, x=e.x_root, y=e.y_root, target=_target_at(root, e.x_root, e.y_root))

    def release(e: tk.Event) -> None:
        report(event="release", button=e.num, x=e.x_root, y=e.y_root, target=_target_at(root, e.x_root, e.y_root))

    def double(e: tk.Event) -> None:
        report(event="double", x=e.x_root, y=e.y_root, target=_target_at(root, e.x_root, e.y_root))

    def key(e: tk.Event) -> None:
        report(event="key", keysym=e.keysym, state=e.state)

    root.bind_all("<ButtonPress>", press, add="+")
    root.bind_all("<ButtonRelease>", release, add="+")
    root.bind_all("<Double-Button-1>", double, add="+")
    root.bind_all("<KeyPress>", key, add="+")

    def layout() -> None:
        bounds = {}
        for name in [n for n, _ in TARGETS] + ["entry"]:
            w = frame.nametowidget(name)
            bounds[name] = [w.winfo_rootx(), w.winfo_rooty(), w.winfo_width(), w.winfo_height()]
        report(event="layout", targets=bounds)

    root.after(300, layout)


def form(root: tk.Tk, report: Reporter) -> None:
    root.title("pixelpilot form")
    root.geometry("640x420+80+60")
    tk.Label(root, text="Name", font=("Noto Sans", 14)).place(x=40, y=40)
    name = tk.StringVar(root)
    tk.Entry(root, textvariable=name, font=("Noto Sans CJK JP", 14), width=28).place(x=160, y=40)
    subscribe = tk.BooleanVar(root)
    tk.Checkbutton(root, text="Subscribe", variable=subscribe, font=("Noto Sans", 14)).place(x=160, y=100)
    status = tk.Label(root, text="", font=("Noto Sans", 12))
    status.place(x=40, y=300)
    help_label = tk.Label(root, text="Help", fg="blue", font=("Noto Sans", 14))
    help_label.place(x=40, y=360)
    tooltip = tk.Label(root, text="", bg="#ffffe0", font=("Noto Sans", 12))

    def show_tip(_e: tk.Event) -> None:
        tooltip.configure(text="Code word: PAPAYA")
        tooltip.place(x=120, y=360)
        if not root.title().endswith("saved"):
            root.title("pixelpilot form - help shown")
        report(event="tooltip")

    def hide_tip(_e: tk.Event) -> None:
        tooltip.place_forget()

    help_label.bind("<Enter>", show_tip)
    help_label.bind("<Leave>", hide_tip)

    def submit() -> None:
        data = {"name": name.get(), "subscribe": bool(subscribe.get())}
        Path("form.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        status.configure(text="Saved")
        root.title("pixelpilot form - saved")
        report(event="submit", **data)

    tk.Button(root, text="Submit", command=submit, font=("Noto Sans", 14)).place(x=160, y=180)


def _advertise_ping(root: tk.Tk) -> None:
    """Keep _NET_WM_PING listed in WM_PROTOCOLS. Tk answers pings by itself but does not list the protocol
    (and refuses ``wm protocol`` for it), and the env pings only windows that list it: older toolkits take
    any WM_PROTOCOLS message for WM_DELETE_WINDOW. Tk rewrites the property when it maps the window, so
    it is checked again every quarter second."""
    try:
        from Xlib import Xatom
        from Xlib import display as xdisplay
    except ImportError:  # a Python without python-xlib: the app works, the env just cannot tell it hung
        return
    d = xdisplay.Display()
    protocols, ping = d.intern_atom("WM_PROTOCOLS"), d.intern_atom("_NET_WM_PING")

    def check() -> None:
        if root.winfo_ismapped():
            # the toplevel's X window sits in Tk's wrapper, which carries the WM properties
            window = d.create_resource_object("window", root.winfo_id()).query_tree().parent
            current = window.get_full_property(protocols, Xatom.ATOM)
            atoms = list(current.value) if current is not None else []
            if ping not in atoms:
                window.change_property(protocols, Xatom.ATOM, 32, [*atoms, ping])
                d.flush()
        root.after(250, check)

    check()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pixelpilot-testapp", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["probe", "form"])
    parser.add_argument("--report", type=Path, help="append one JSON line per event to this file")
    parser.add_argument("--fullscreen", action="store_true", help="cover the screen (the probe at any size)")
    args = parser.parse_args(argv)
    root = tk.Tk(className="Pixelpilot")
    report = Reporter(args.report)
    if args.fullscreen:
        root.attributes("-fullscreen", True)
    {"probe": probe, "form": form}[args.mode](root, report)

    _advertise_ping(root)
    root.mainloop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
