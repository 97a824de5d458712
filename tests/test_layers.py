# -*- test-case-name: tests.test_layers -*-
"""
The import contract of STYLE.md rule 10: the pure packages never import the
reactor, storage, the protocol layers or the router; and the sample
configuration stays in step with the code's defaults.
"""

from __future__ import annotations

import ast
import os

from twisted.trial import unittest

import xmuc
from xmuc.config import Config, loadConfig

PURE_PACKAGES = ("core", "muc", "dmuc")
FORBIDDEN = (
    "twisted.internet",
    "xmuc.storage",
    "xmuc.c2s",
    "xmuc.s2s",
    "xmuc.router",
    "xmuc.node",
    "xmuc.tap",
)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def importsOf(path: str) -> set[str]:
    """
    The modules a source file imports (absolute names).
    """
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


class LayerTests(unittest.TestCase):
    """
    The pure core stays pure.
    """

    def test_pureLayersImportNoGlue(self) -> None:
        """
        No module under xmuc/core, xmuc/muc or xmuc/dmuc imports the
        reactor, storage, c2s, s2s, the router, the node or the tap.
        """
        base = os.path.dirname(xmuc.__file__)
        checked = 0
        for package in PURE_PACKAGES:
            for directory, _, files in os.walk(os.path.join(base, package)):
                for name in files:
                    if not name.endswith(".py"):
                        continue
                    path = os.path.join(directory, name)
                    checked += 1
                    for imported in importsOf(path):
                        for forbidden in FORBIDDEN:
                            self.assertFalse(
                                imported == forbidden or imported.startswith(forbidden + "."),
                                f"{path} imports {imported}",
                            )
        self.assertGreater(checked, 0)


class SampleConfigTests(unittest.TestCase):
    """
    etc/node.ini documents the defaults.
    """

    def test_sampleIsTheDefaults(self) -> None:
        """
        The sample node.ini parses, and every value in it is the code's
        default, so the README's start command runs on the defaults.
        """
        path = os.path.join(ROOT, "etc", "node.ini")
        config = loadConfig(path)
        self.assertEqual(config, Config(baseDir=config.baseDir))

    def test_sampleListsEveryOption(self) -> None:
        """
        Every option of every section appears in the sample.
        """
        import dataclasses

        from xmuc.config import _SECTIONS

        with open(os.path.join(ROOT, "etc", "node.ini"), encoding="utf-8") as f:
            text = f.read()
        for section, cls in _SECTIONS.items():
            self.assertIn(f"[{section}]", text)
            for field in dataclasses.fields(cls):
                self.assertIn(f"\n{field.name} =", text, f"[{section}] {field.name}")


class PackagingTests(unittest.TestCase):
    """
    What `pip install .` ships.
    """

    def test_everyPackageIsRegular(self) -> None:
        """
        Every directory of Python modules under xmuc/ has an __init__.py,
        so that setup.py's find_packages() installs it (a namespace
        directory would be left out of the installed node while the tests,
        which import the checkout, still pass).
        """
        missing = []
        for directory, _, files in os.walk(os.path.join(ROOT, "xmuc")):
            if "__pycache__" in directory:
                continue
            if any(name.endswith(".py") for name in files) and "__init__.py" not in files:
                missing.append(os.path.relpath(directory, ROOT))
        self.assertEqual(missing, [])
