"""Web page and HTTP API (``painterly serve``)."""
