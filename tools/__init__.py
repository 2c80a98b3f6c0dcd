"""LangChain tools over the Assistant service: the plugin surface for other agents."""
