"""Talking to ChartMogul: the client (session, retries, rate limit, cache) and the wire."""
