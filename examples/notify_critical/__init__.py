"""Notify on critical results: a downstream service that knows nothing of Kafka, Avro or offsets."""
