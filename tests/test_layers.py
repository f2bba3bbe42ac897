"""The layering rule: nothing outside workbench/gui (and report figure export) imports Qt."""
from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
QT_FREE = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (ROOT / "workbench").rglob("*.py")
    if not {"gui", "report"} & set(p.relative_to(ROOT / "workbench").parts) and p.name != "__main__.py"
)

BLOCKER = """
import importlib, sys
class NoQt:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'shiboken6'):
            raise ImportError(f'Qt import of {name} is not allowed here')
sys.meta_path.insert(0, NoQt())
for name in sys.argv[1:]:
    importlib.import_module(name)
import workbench.jobs.registry as r
r.list_methods()          # importing every method family must not pull Qt either
bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]
assert not bad, bad
print('ok', len(sys.argv) - 1)
"""


def test_every_non_gui_module_imports_without_qt():
    assert len(QT_FREE) > 10
    out = subprocess.run([sys.executable, "-c", BLOCKER, *QT_FREE], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok")
