"""The README stays true: its field table is the one rendered from include/k8saudit_fields.h."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_field_table_is_current():
    table = subprocess.run([sys.executable, str(ROOT / "scripts" / "field_table.py")],
                           check=True, capture_output=True, text=True).stdout.strip()
    readme = (ROOT / "README.md").read_text()
    assert table in readme, "README field table is stale: run scripts/field_table.py --write"
    assert table.count("\n| ") == 100


def test_readme_names_the_two_commands_the_makefile_provides():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for cmd in ("demo", "test"):
        assert f"make {cmd}" in readme
        assert f"\n{cmd}:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
