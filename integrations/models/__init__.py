"""Chat models (local llama.cpp, Anthropic, OpenAI) and embedders behind askloop's ports."""
