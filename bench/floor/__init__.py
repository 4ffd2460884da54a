"""The load test's floor: the cheapest authenticated write the stack can serve.

Installed only by bench.settings (never in config.settings.*). Its one endpoint goes through
the same middleware, knox token authentication and DRF machinery as every API view, then
inserts one row, so `bench.load` can report check-in submission as a fraction of it.
"""
