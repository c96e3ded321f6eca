"""Pages to Arrow to frame: read_customers, the decoder, snapshots and Parquet datasets."""
