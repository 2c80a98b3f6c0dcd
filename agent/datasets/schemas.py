"""The schema of each dataset format, as pydantic models: what a trainer accepts.

Strict (no coercion: a label is ``true``/``false``, content is text) and closed (a key
the trainer does not know is an error). :func:`askloop.agent.datasets.formats.validate`
checks every exported record against its format's model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "SCHEMAS",
    "KtoRecord",
    "Message",
    "OpenAIDpoRecord",
    "OpenAISftRecord",
    "PromptCompletionRecord",
    "RouterRecord",
    "SftRecord",
    "TrlDpoRecord",
    "WeightedMessage",
]

RouteLabel = Literal["retrieve", "finetuned"]


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("empty text")
    return text


Text = Annotated[str, AfterValidator(_not_blank)]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Message(_Schema):
    role: Literal["system", "user", "assistant"]
    content: Text


class WeightedMessage(Message):
    """An OpenAI chat message: ``weight`` 0 marks an earlier answer as context only."""

    weight: Literal[0, 1] | None = None

    @model_validator(mode="after")
    def _weight_on_answers_only(self) -> WeightedMessage:
        if "weight" in self.model_fields_set and self.role != "assistant":
            raise ValueError("weight is 0 or 1, on assistant messages only")
        return self


def _ends_with_user(messages: list[Message]) -> list[Message]:
    if messages[-1].role != "user":
        raise ValueError("must end with the user turn")
    return messages


def _one_assistant(messages: list[Message]) -> list[Message]:
    if len(messages) != 1 or messages[0].role != "assistant":
        raise ValueError("must be exactly one assistant message")
    return messages


Prompt = Annotated[list[Message], Field(min_length=1), AfterValidator(_ends_with_user)]
Answer = Annotated[list[Message], Field(min_length=1), AfterValidator(_one_assistant)]


class PromptCompletionRecord(_Schema):
    """TRL SFT and RAFT, conversational prompt/completion: TRL computes the loss on the
    completion only, so earlier answers of the thread (in the prompt) are never targets."""

    prompt: Prompt
    completion: Answer


class SftRecord(_Schema):
    """A conversation ending in the answer (TRL's language-modelling type)."""

    messages: Annotated[list[Message], Field(min_length=1)]

    @model_validator(mode="after")
    def _ends_with_the_answer(self) -> SftRecord:
        if self.messages[-1].role != "assistant":
            raise ValueError("the last message must be the assistant answer")
        return self


class OpenAISftRecord(_Schema):
    """OpenAI chat fine-tuning: the last message is the (weighted) answer."""

    messages: Annotated[list[WeightedMessage], Field(min_length=1)]

    @model_validator(mode="after")
    def _ends_with_the_weighted_answer(self) -> OpenAISftRecord:
        last = self.messages[-1]
        if last.role != "assistant" or last.weight not in (None, 1):
            raise ValueError("the last message must be the (weighted) assistant answer")
        return self


class DpoInput(_Schema):
    messages: Prompt


class OpenAIDpoRecord(_Schema):
    input: DpoInput
    preferred_output: Answer
    non_preferred_output: Answer

    @model_validator(mode="after")
    def _outputs_differ(self) -> OpenAIDpoRecord:
        if self.preferred_output == self.non_preferred_output:
            raise ValueError("preferred and non-preferred outputs are identical")
        return self


class TrlDpoRecord(_Schema):
    prompt: Prompt
    chosen: Answer
    rejected: Answer

    @model_validator(mode="after")
    def _answers_differ(self) -> TrlDpoRecord:
        if self.chosen == self.rejected:
            raise ValueError("chosen and rejected are identical")
        return self


class KtoRecord(_Schema):
    prompt: Prompt
    completion: Answer
    label: bool


class RouterFeatures(BaseModel):
    """The router's features: a numeric ``score`` at least, and whatever else it used."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    score: float


class RouterRecord(_Schema):
    question: Text
    features: RouterFeatures
    decision: RouteLabel
    label: RouteLabel


SCHEMAS: dict[str, type[_Schema]] = {
    "openai-sft": OpenAISftRecord,
    "openai-dpo": OpenAIDpoRecord,
    "trl-sft": PromptCompletionRecord,
    "trl-dpo": TrlDpoRecord,
    "trl-kto": KtoRecord,
    "raft": PromptCompletionRecord,
    "router": RouterRecord,
}
