"""Command-line interface (``painterly ...``)."""
