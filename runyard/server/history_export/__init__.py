"""Bulk history reads: a run's closed history exported to Parquet (the client's parquetHistory)."""
