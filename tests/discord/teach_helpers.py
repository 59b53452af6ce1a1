"""Driving /teach against the fake Discord: photos as attachment options, or in a later message."""

from __future__ import annotations

from typing import Any

from tests.discord.conftest import option
from tests.fakes.discord_server import FakeDiscord, FakeGuild, FakeInteraction, FakeMessage, FakeUser


def photos(fake: FakeDiscord, files: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    return [
        option(f"photo{i + 1}", str(fake.upload(name, data)), kind=11) for i, (name, data) in enumerate(files)
    ]


async def teach(
    fake: FakeDiscord, guild: FakeGuild, files: list[tuple[str, bytes]], **kw: Any
) -> FakeInteraction:
    return await fake.slash(
        guild, guild.members[0], "teach", [option("name", "dog"), *photos(fake, files)], **kw
    )


async def teach_by_message(
    fake: FakeDiscord,
    guild: FakeGuild,
    files: list[tuple[str, bytes]],
    *,
    user: FakeUser | None = None,
    direct: bool = False,
    name: str = "dog",
) -> tuple[FakeInteraction, FakeMessage]:
    """`/teach name:NAME` without photos, then the photos in a message mentioning the bot (or a DM)."""
    user = user or guild.members[0]
    asked = await fake.slash(guild, user, "teach", [option("name", name)])
    await fake.wait_answered(asked)
    sent, delivered = await fake.user_message(
        None if direct else guild, user, "here they are", files, mention_bot=not direct
    )
    assert delivered
    return asked, sent


def replies(fake: FakeDiscord, message: FakeMessage) -> list[FakeMessage]:
    """The bot's replies to a user's message, oldest first."""
    return [
        m
        for m in fake.messages.values()
        if m.author.id == fake.bot.id and (m.reference or {}).get("message_id") == str(message.id)
    ]
