"""Hooks of the fsspec artifact plugin: which artifact URI schemes it serves.

Kept light on purpose: this module imports only trackyard core (no fsspec), so listing the
installed schemes costs nothing. The repository class is named as a ``"module:Class"`` string.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from trackyard.plugins.hookspecs import BackendSpec, hookimpl

__all__ = ["INSTALL_HINTS", "SCHEMES", "TARGET", "install_hint", "trackyard_artifact_repositories"]

TARGET = "trackyard_fsspec.repository:FsspecArtifactRepository"

_FSSPEC_HINT = "pip install fsspec"

# Scheme groups this plugin claims by name, with what to install when their fsspec
# implementation is missing. Any other protocol fsspec knows is served through the fallback.
_GROUPS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("file",), _FSSPEC_HINT),  # also bare paths
    (("memory",), _FSSPEC_HINT),
    (("s3", "s3a"), 'pip install "trackyard[s3]"'),
    (("gs", "gcs"), 'pip install "trackyard[gcs]"'),
    (("az", "abfs", "abfss", "adl"), "pip install adlfs"),
    (("hdfs",), "pip install pyarrow"),
    (("webhdfs",), "pip install requests"),
    (("sftp",), "pip install paramiko"),
    (("ftp",), _FSSPEC_HINT),  # ftplib is in the standard library
    (("hf",), "pip install huggingface_hub"),
)

SCHEMES: tuple[str, ...] = tuple(scheme for schemes, _ in _GROUPS for scheme in schemes)
"""The schemes claimed by name (the fallback serves any other protocol fsspec knows)."""

INSTALL_HINTS: Mapping[str, str] = MappingProxyType(
    {scheme: hint for schemes, hint in _GROUPS for scheme in schemes}
)
"""Scheme -> the command that installs what its fsspec implementation needs."""


def install_hint(scheme: str) -> str | None:
    """Return the install command for ``scheme``'s dependencies, or None if unknown."""
    return INSTALL_HINTS.get(scheme.lower())


@hookimpl
def trackyard_artifact_repositories() -> list[BackendSpec]:
    """Declare the fsspec artifact repository for its named schemes and as a fallback."""
    specs = [
        BackendSpec(schemes=schemes, target=TARGET, install_hint=hint) for schemes, hint in _GROUPS
    ]
    # Asked about schemes nobody claims; FsspecArtifactRepository.accepts_scheme decides.
    specs.append(BackendSpec(schemes=(), target=TARGET, install_hint=_FSSPEC_HINT, fallback=True))
    return specs
