"""The askloop core: records, ports and (later) the graph and the Assistant service.

Imports nothing from Slack, Teams, Weaviate or vendor SDKs, and does no work at import.
"""
