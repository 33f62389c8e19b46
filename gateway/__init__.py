"""The ways in: the `braid` command line and the aiohttp service (status page and books for now)."""
