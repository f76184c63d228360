from __future__ import annotations

from pathlib import Path

import pytest

from processors.config_files import DEFAULT_CONFIG_DIR, ConfigFiles, ProcessorRules
from processors.mapping_tables import MappingTables, load_mapping_tables


@pytest.fixture(scope="session")
def rules() -> ProcessorRules:
    """The shipped config/ files."""
    return ConfigFiles(DEFAULT_CONFIG_DIR).load()


@pytest.fixture(scope="session")
def tables() -> MappingTables:
    return load_mapping_tables(DEFAULT_CONFIG_DIR)


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(DEFAULT_CONFIG_DIR, tmp_path / "config"))
