"""Build the chat model a ``provider:model`` string names (``ASKLOOP_*_MODEL``)."""

from __future__ import annotations

from askloop.agent.chat import ChatModel
from askloop.agent.errors import InvalidInputError
from askloop.config.settings import Settings

__all__ = ["make_chat_model"]


def make_chat_model(spec: str, settings: Settings) -> ChatModel:
    """``local:default``, ``local:PATH`` (a GGUF file, or a folder holding ``model.gguf``),
    ``anthropic:<model>``, ``openai:<model>`` (incl. ``openai:ft:…``).

    A ``local:`` path is checked here (exists, readable, GGUF), before any model loads."""
    provider, _, model = spec.partition(":")
    models = settings.models
    keys = settings.providers
    if not model:
        raise InvalidInputError(f"model {spec!r} must look like provider:model")
    if provider == "local":
        from askloop.integrations.models.gguf import local_model_file
        from askloop.integrations.models.local import LocalChatModel

        return LocalChatModel(
            model_path=local_model_file(model),
            threads=models.local_threads,
            context_tokens=models.local_context_tokens,
        )
    from askloop.integrations.models.hosted import AnthropicChatModel, OpenAIChatModel, RetryPolicy

    retry = RetryPolicy(attempts=models.max_attempts)
    if provider == "anthropic":
        if keys.anthropic_api_key is None:
            raise InvalidInputError(f"{spec} needs ANTHROPIC_API_KEY")
        return AnthropicChatModel(
            model=model,
            api_key=keys.anthropic_api_key.get_secret_value(),
            timeout=models.timeout_seconds,
            retry=retry,
        )
    if provider == "openai":
        if keys.openai_api_key is None and not keys.openai_base_url:
            raise InvalidInputError(f"{spec} needs OPENAI_API_KEY (or OPENAI_BASE_URL)")
        key = keys.openai_api_key.get_secret_value() if keys.openai_api_key else "unused"
        return OpenAIChatModel(
            model=model,
            api_key=key,
            base_url=keys.openai_base_url,
            timeout=models.timeout_seconds,
            retry=retry,
        )
    raise InvalidInputError(
        f"unknown model provider {provider!r} in {spec!r}; use local, anthropic or openai"
    )
