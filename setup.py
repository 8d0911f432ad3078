"""Packaging: the design card's top-level folders become subpackages of one import name.

``agent/ env/ tools/ tasks/`` stay at the repository root (the user's design card) and install as
``pixelpilot.agent``, ``pixelpilot.env``, ``pixelpilot.tools`` and ``pixelpilot.tasks`` beside the
public face in ``pixelpilot/``. setuptools' package-dir maps each; the package list is derived
here so a new subpackage needs no edit (pyproject.toml's static list cannot express the mapping).
"""

from setuptools import find_packages, setup

ROOTS = ("agent", "env", "tools", "tasks")

packages = ["pixelpilot"] + [f"pixelpilot.{sub}" for sub in find_packages("pixelpilot")]
for root in ROOTS:
    packages += [f"pixelpilot.{root}"] + [f"pixelpilot.{root}.{sub}" for sub in find_packages(root)]

setup(
    packages=packages,
    package_dir={"pixelpilot": "pixelpilot", **{f"pixelpilot.{root}": root for root in ROOTS}},
)
