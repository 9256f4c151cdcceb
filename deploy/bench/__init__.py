"""Benchmarks and their data generators: commands that print figures, never tests.

- `ingest.py` (`elflow bench ingest`): Kafka → flow → hypertable against a raw COPY.
- `settle.py` (`elflow bench settle`): a settlement run against one plain aggregate scan.
"""
