"""The carebus contracts: Avro schemas (`*.avsc`), language-neutral, shipped with the package.

This file only tells code where the schema files are; the contracts themselves are the `.avsc` files.
"""

from pathlib import Path

__all__ = ["SCHEMA_DIR"]

SCHEMA_DIR = Path(__file__).resolve().parent
