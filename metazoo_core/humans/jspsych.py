"""jsPsych for the session page: npm packages fetched by exact version and checked against the registry's hash.

jsPsych is not part of this repository. The first `metazoo experiment … --serve` or `--export` downloads the three
npm tarballs below into metazoo's cache (`$METAZOO_CACHE/npm`, the weights cache's root), checks each against the
registry's `dist.integrity` (sha512, Subresource-Integrity form) before it is kept, and extracts only the browser
build `package/dist/index.browser.min.js` of each into `$METAZOO_CACHE/jspsych/`, under the names the page loads
(templates/session.html). Later runs, offline included, use the cache.

Where the tarballs come from, first match wins:
- `METAZOO_JSPSYCH_TARBALLS=DIR`: a folder holding the `npm pack` outputs (for a machine without network access:
  `npm pack jspsych@8.3.0 @jspsych/plugin-html-button-response@2.1.0 @jspsych/plugin-preload@2.1.0`);
- `METAZOO_NPM_REGISTRY=URL`: an npm registry mirror with the public registry's tarball layout
  (`URL/NAME/-/BASENAME-VERSION.tgz`);
- the public registry, https://registry.npmjs.org.
Either way the integrity hash must match. HF_HUB_OFFLINE=1 (metazoo's offline switch) forbids downloads.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..archives import extract_members
from ..download import download
from ..errors import MetazooError, WeightsError
from ..fileio import atomic_path
from ..weights import _offline, cache_dir

TARBALLS_ENV = "METAZOO_JSPSYCH_TARBALLS"
REGISTRY_ENV = "METAZOO_NPM_REGISTRY"
REGISTRY = "https://registry.npmjs.org"
BROWSER_BUILD = "package/dist/index.browser.min.js"


@dataclass(frozen=True)
class NpmPackage:
    """One npm package version: `name` (possibly @scope/…), `version`, the registry's `integrity` and the file name
    the session page loads its browser build under (`served`)."""
    name: str
    version: str
    integrity: str
    served: str

    @property
    def tarball(self) -> str:
        """The tarball's file name in the registry (`plugin-preload-2.1.0.tgz` for @jspsych/plugin-preload)."""
        return f"{self.name.rsplit('/', 1)[-1]}-{self.version}.tgz"

    @property
    def packed(self) -> str:
        """The file name `npm pack` writes (`jspsych-plugin-preload-2.1.0.tgz`)."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    def url(self, registry: str) -> str:
        return f"{registry.rstrip('/')}/{self.name}/-/{self.tarball}"


# dist.integrity and dist.tarball as `npm view NAME@VERSION dist` printed them on 2026-12-07 (registry.npmjs.org):
#   jspsych@8.3.0  https://registry.npmjs.org/jspsych/-/jspsych-8.3.0.tgz
#   @jspsych/plugin-html-button-response@2.1.0
#                  https://registry.npmjs.org/@jspsych/plugin-html-button-response/-/plugin-html-button-response-2.1.0.tgz
#   @jspsych/plugin-preload@2.1.0
#                  https://registry.npmjs.org/@jspsych/plugin-preload/-/plugin-preload-2.1.0.tgz
PACKAGES = (
    NpmPackage("jspsych", "8.3.0",
               "sha512-UrwSVG14v8oRX6WFQ1L6uuGT0G7KgRDSH48iKIVIQI+yMRGAlvg+tEUNFKe/1xZxgk3kZiZ5xP0AnpPqPj1zkg==",
               "jspsych-8.3.0.min.js"),
    NpmPackage("@jspsych/plugin-html-button-response", "2.1.0",
               "sha512-AhJPePA8s/ount+QYtqfgMtEkz7g+j+bnhQ9XqxfsnK2f5MdnlakYtpjxW9YgFx9y0Gs7yb7OZk1+omcKlzaEQ==",
               "plugin-html-button-response-2.1.0.min.js"),
    NpmPackage("@jspsych/plugin-preload", "2.1.0",
               "sha512-tQUViQQNK5RXc+sYjNyV1NKl8gt9Wl+sZ55kpW1eEn9I84WCSBtjPDthr7WxGMZeK+E/ybYucWMVcIwlncaHAg==",
               "plugin-preload-2.1.0.min.js"),
)


class JsPsychUnavailable(MetazooError):
    """jsPsych is neither cached nor obtainable now."""


def integrity_of(path: Path) -> str:
    """`path`'s Subresource-Integrity string, `sha512-<base64 digest>` (what npm's `dist.integrity` holds)."""
    h = hashlib.sha512()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return "sha512-" + base64.b64encode(h.digest()).decode()


def static_dir() -> Path:
    """The folder served as `static/jspsych/`: the browser builds of PACKAGES, fetched and extracted if missing.
    Raises JsPsychUnavailable or WeightsError (one line each) when a package cannot be had or does not match."""
    folder = cache_dir() / "jspsych"
    for pkg in PACKAGES:
        if not (folder / pkg.served).is_file():
            _extract(pkg, _tarball(pkg), folder / pkg.served)
    return folder


def _tarball(pkg: NpmPackage) -> Path:
    """The package's tarball in the cache, verified; brought in from METAZOO_JSPSYCH_TARBALLS or downloaded first."""
    dest = cache_dir() / "npm" / pkg.packed
    if dest.is_file():
        return dest
    given = os.environ.get(TARBALLS_ENV)
    if given:
        src = Path(given).expanduser() / pkg.packed
        if not src.is_file():
            raise JsPsychUnavailable(f"{TARBALLS_ENV}={given} has no {pkg.packed}; create it there with "
                                     f"`npm pack {pkg.name}@{pkg.version}`")
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
            _check(tmp, pkg, str(src))
        return dest
    url = pkg.url(os.environ.get(REGISTRY_ENV) or REGISTRY)
    way_out = (f"run the command once with network access, or set {TARBALLS_ENV} to a folder with the `npm pack` "
               "tarballs (docs/user-guide.md)")
    if _offline():
        raise JsPsychUnavailable(f"jsPsych ({pkg.name}@{pkg.version}) is not in the cache ({dest.parent}) and "
                                 f"HF_HUB_OFFLINE=1 forbids downloading it from {url}: {way_out}")
    staged = dest.with_name(dest.name + ".unverified")
    try:
        download(url, staged, label=pkg.packed)
    except WeightsError as e:
        raise JsPsychUnavailable(f"jsPsych ({pkg.name}@{pkg.version}): {e}; {way_out}") from None
    try:
        _check(staged, pkg, url)
    except JsPsychUnavailable:
        staged.unlink(missing_ok=True)
        raise
    os.replace(staged, dest)
    return dest


def _check(path: Path, pkg: NpmPackage, source: str) -> None:
    got = integrity_of(path)
    if got != pkg.integrity:
        raise JsPsychUnavailable(f"{source} is not {pkg.name}@{pkg.version}: its hash is {got[:31]}…, the npm "
                                 f"registry's is {pkg.integrity[:31]}…; the file was not kept")


def _extract(pkg: NpmPackage, tarball: Path, out: Path) -> None:
    """Only BROWSER_BUILD, through the cache's safe tar extraction, then renamed to `out`."""
    members = cache_dir() / "npm" / f".{pkg.packed}.members"
    found = extract_members(tarball, [BROWSER_BUILD], members, source=str(tarball))
    if BROWSER_BUILD not in found:
        raise JsPsychUnavailable(f"{tarball} has no {BROWSER_BUILD}; delete it and run the command again")
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(found[BROWSER_BUILD], out)
