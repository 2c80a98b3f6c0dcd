"""``askloop serve``: the aiohttp server for Slack and Teams, its runtime and metrics."""
