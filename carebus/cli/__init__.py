"""The `carebus` command line: the one place that wires the layers together."""

import warnings

from authlib.deprecate import AuthlibDeprecationWarning

# confluent_kafka.schema_registry imports authlib's httpx integration, which warns (with an "always"
# filter of its own) that it moved; it is not ours to fix and users should not see it on every command.
warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=AuthlibDeprecationWarning)
