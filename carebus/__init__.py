"""carebus: a Kafka-native canonical event bus for healthcare data.

The core package holds what every layer shares: settings, the error tree, typed ids, the Kafka
clients, the Avro serde and schema registry, metrics and the command line. It never imports a
layer (`producers`, `processors`, `consumers`); only `carebus.cli` wires them together.
"""

__version__ = "0.1.0"
