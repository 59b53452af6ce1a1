"""Discord failures turned into short user-facing sentences, and replies that never raise.

Discord error codes used here (https://discord.com/developers/docs/topics/opcodes-and-status-codes):
10003 unknown channel, 10008 unknown message, 10015 unknown webhook, 10062 unknown interaction
(the 3 s / 15 min window passed), 30039 maximum number of stickers, 50013 missing permissions.
429s never get here: discord.py waits out Retry-After and retries.
"""

from __future__ import annotations

import logging

import discord

from bot import messages

log = logging.getLogger(__name__)

UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
MAX_STICKERS = 30039
MISSING_PERMISSIONS = 50013

GENERIC_FAILURE = messages.UNEXPECTED
GONE_CODES = frozenset({UNKNOWN_CHANNEL, UNKNOWN_MESSAGE, UNKNOWN_WEBHOOK, UNKNOWN_INTERACTION})


def is_gone(exc: discord.HTTPException) -> bool:
    """The channel, message or interaction no longer exists: nobody is left to answer."""
    return exc.code in GONE_CODES or exc.status == 404


def describe(exc: discord.HTTPException) -> str:
    """A short sentence for a member about a Discord failure."""
    if exc.code == MAX_STICKERS:
        return "This server's sticker slots are full. Remove a sticker (or boost the server) and try again."
    if exc.code == MISSING_PERMISSIONS or exc.status == 403:
        return "I'm missing a permission for that here. Ask a server admin to check my role."
    if exc.status >= 500:
        return "Discord is having trouble right now. Please try again in a moment."
    return "Discord rejected that request. Please try again."


async def tell(interaction: discord.Interaction, text: str, *, deferred_privately: bool = False) -> bool:
    """Send `text` to the user privately, whatever state the interaction is in. Never raises.

    Before any response: an ephemeral message. After a private defer: the loading message becomes
    the text. After a public "thinking…" defer the loading message is removed first, since the
    first follow-up would otherwise replace it and stay public.
    Returns False when the interaction is gone (expired or deleted).
    """
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
            return True
        if deferred_privately:
            await interaction.edit_original_response(content=text, attachments=[], view=None)
            return True
        if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            try:
                await interaction.delete_original_response()
            except discord.HTTPException as exc:
                if not is_gone(exc):
                    await interaction.edit_original_response(content=text, attachments=[], view=None)
                    return True
        await interaction.followup.send(text, ephemeral=True)
        return True
    except discord.HTTPException as exc:
        _log_lost(interaction, exc)
        return False
    except Exception:
        log.exception("could not tell the user about a problem (interaction %s)", interaction.id)
        return False


def _log_lost(interaction: discord.Interaction, exc: discord.HTTPException) -> None:
    if is_gone(exc):
        log.info("interaction %s expired before it could be answered (code %s)", interaction.id, exc.code)
    else:
        log.warning("answering interaction %s failed: %s %s", interaction.id, exc.status, exc.code)


async def defer(interaction: discord.Interaction, *, ephemeral: bool = False) -> bool:
    """Acknowledge with "thinking…"; False when the interaction already expired (nothing to answer)."""
    try:
        await interaction.response.defer(thinking=True, ephemeral=ephemeral)
        return True
    except discord.InteractionResponded:
        return True
    except discord.HTTPException as exc:
        _log_lost(interaction, exc)
        return False
