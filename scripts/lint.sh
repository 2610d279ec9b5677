#!/usr/bin/env bash
# The habits CI keeps: ruff (lint and format), mypy on the typed core, import-linter's
# contracts (layers of docs/design.md, no cycles among siblings, no torch below the
# inversion, no Dask in it). Run from anywhere; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --config pyproject.toml
