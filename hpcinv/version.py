"""The package version, written here only (pyproject.toml reads it; lowest layer).

Bump it, with a CHANGELOG.md entry, whenever config keys, file formats or results change.
"""

__version__ = "0.12.0"
