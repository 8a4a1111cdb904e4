"""Fixtures of the regression suite (helpers are in probes.py: a module named `conftest` is shared by every
conftest.py folder, so tests never import from it)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def good_png(tmp_path) -> Path:
    from PIL import Image
    import numpy as np

    path = tmp_path / "good.png"
    Image.fromarray((np.indices((64, 64)).sum(0) * 2 % 256).astype("uint8")).convert("RGB").save(path)
    return path
