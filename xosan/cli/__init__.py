"""The ``xosan`` command: argument parsing, progress and summaries over xosan.pool."""
