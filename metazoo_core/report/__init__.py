"""A self-contained static HTML report of a metamer run: one file, media embedded as data: URIs, no CDN, no script.

`build_report(run_dir, out)` writes the page and returns (its path, skipped-record warnings); see `page.py`.
"""
from .page import build_report

__all__ = ["build_report"]
