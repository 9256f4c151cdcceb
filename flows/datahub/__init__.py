"""The DataHub 3 B2B connector: `pull` (queues → Kafka), `send` (requests → DataHub)."""
