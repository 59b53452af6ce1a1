"""Generator errors → the `UserError` a chat user reads (never library text, never a traceback)."""

from __future__ import annotations

from bot import messages
from bot.types import ErrorKind, UserError
from generator.api import (
    EngineClosed,
    GenerationTimeout,
    GeneratorError,
    InvalidRequest,
    ModelMissing,
    Overloaded,
    UnknownStyle,
)
from generator.options import ModelConfig

GENERATOR_KINDS: dict[type[GeneratorError], ErrorKind] = {
    InvalidRequest: ErrorKind.INVALID,
    UnknownStyle: ErrorKind.UNKNOWN_STYLE,
    ModelMissing: ErrorKind.MODEL_MISSING,
    Overloaded: ErrorKind.OVERLOADED,
    GenerationTimeout: ErrorKind.TIMEOUT,
    EngineClosed: ErrorKind.SHUTTING_DOWN,
}


def is_expected(exc: GeneratorError) -> bool:
    """Errors that are part of normal operation (no warning in the log)."""
    return isinstance(exc, tuple(GENERATOR_KINDS)) and not isinstance(exc, EngineClosed)


def user_error_for(exc: GeneratorError) -> UserError:
    for cls, kind in GENERATOR_KINDS.items():
        if isinstance(exc, cls):
            return UserError(kind, exc.user_message)
    return UserError(ErrorKind.FAILED, exc.user_message or messages.FAILED)


def chat_user_error(exc: GeneratorError, model: ModelConfig) -> UserError:
    """`user_error_for`, except that a missing model gets a sentence for chat users (who can't
    download models) naming the model and who can fix it."""
    if isinstance(exc, ModelMissing):
        return UserError(ErrorKind.MODEL_MISSING, messages.model_missing(missing_model(exc, model)))
    return user_error_for(exc)


def missing_model(exc: ModelMissing, model: ModelConfig) -> str:
    """Which configured model `exc` is about: the tiny VAE when its message names only that."""
    text = exc.user_message
    if model.tiny_vae and model.tiny_vae in text and model.path not in text:
        return model.tiny_vae
    return model.path
