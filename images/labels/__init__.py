"""Tags and metadata: their rules (pure), the index tables and the queries on them, CSV rows."""
