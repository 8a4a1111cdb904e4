"""The repository passes `ruff check` with the configuration in pyproject.toml ([tool.ruff])."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_check_is_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(REPO)],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, f"ruff check found problems (fix them or `ruff check --fix`):\n{r.stdout[-4000:]}"
