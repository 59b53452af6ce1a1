"""`/teach name:dog photo1:… photo2:…`, progress by editing the reply, the preview when done, `/forget`,
and `/teach-settings` for owners (Manage Server, checked here in code).

Photos arrive as attachment options (one file each, up to `PHOTO_SLOTS`): Discord resolves them in
the interaction and the bot downloads them from the CDN. `/teach name:dog` without photos asks for
them in the user's next message mentioning the bot, or in a DM (teach_inbox.py).
When training outlives the interaction token (15 minutes), progress and the notice go to the channel.
"""

from __future__ import annotations

import io
import logging
import time
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord import app_commands

from adapters.discord import errors
from adapters.discord.context import context_of, scope_of
from adapters.discord.flows import deferred
from bot.teaching import Photo, Teacher, TeachError, TeachProgress, TeachService
from bot.teaching.names import clean_name
from bot.teaching.wiring import teaching_of

if TYPE_CHECKING:
    from adapters.discord.teach_inbox import TeachInbox

log = logging.getLogger(__name__)

TURNED_OFF = "Teaching your own subject is turned off here."
TOKEN_LIFETIME_S = 15 * 60 - 30  # an interaction token works 15 minutes; stop using it a little early
PHOTO_SLOTS = 10  # one attachment option per photo; Discord allows 25 options in all
Attachment = discord.Attachment | None


def _teaching(interaction: discord.Interaction) -> TeachService | None:
    return teaching_of(context_of(interaction).service)


def _inbox(interaction: discord.Interaction) -> TeachInbox | None:
    return getattr(interaction.client, "teach_inbox", None)  # set by the client when teaching is on


def teacher_of(interaction: discord.Interaction) -> Teacher:
    """The server (or DM channel) and the user; admin = Manage Server, from the interaction itself."""
    admin = interaction.guild_id is not None and interaction.permissions.manage_guild
    return Teacher("discord", scope_of(interaction).server, str(interaction.user.id), admin)


@app_commands.command(name="teach", description="Teach me your own subject from 4-10 photos")
@app_commands.describe(name="What it is called, e.g. 'dog' (then use 'my dog' in /sticker)")
async def teach_command(
    interaction: discord.Interaction,
    name: app_commands.Range[str, 1, 40],
    photo1: Attachment = None,
    photo2: Attachment = None,
    photo3: Attachment = None,
    photo4: Attachment = None,
    photo5: Attachment = None,
    photo6: Attachment = None,
    photo7: Attachment = None,
    photo8: Attachment = None,
    photo9: Attachment = None,
    photo10: Attachment = None,
) -> None:
    teaching = _teaching(interaction)
    if teaching is None:
        await errors.tell(interaction, TURNED_OFF)
        return
    try:
        clean = clean_name(name)
    except TeachError as err:
        await errors.tell(interaction, err.message)
        return
    given = [photo1, photo2, photo3, photo4, photo5, photo6, photo7, photo8, photo9, photo10]
    attachments = [a for a in given if a is not None]
    inbox = _inbox(interaction)
    if not attachments and inbox is not None:
        await deferred(interaction, lambda: inbox.expect(interaction, teaching, clean), ephemeral=True)
        return
    await deferred(interaction, lambda: _teach(interaction, teaching, clean, attachments))


async def _teach(
    interaction: discord.Interaction, teaching: TeachService, name: str, attachments: list[discord.Attachment]
) -> None:
    photos = await download_all(attachments, teaching)
    status = InteractionStatus(interaction)
    try:
        accepted = await teaching.teach(teacher_of(interaction), name, photos, status.show)
    except TeachError as err:
        await errors.tell(interaction, err.message)
        return
    await status.show(accepted)


async def download_all(attachments: list[discord.Attachment], teaching: TeachService) -> list[Photo]:
    limit = int(teaching.config.max_photo_mb * 1024 * 1024)
    photos = [await _download(a, limit) for a in attachments]
    return [p for p in photos if p is not None]


async def _download(attachment: discord.Attachment, limit: int) -> Photo | None:
    if attachment.size > limit:
        return Photo(attachment.filename, b"")  # refused by the photo checks, with its name
    try:
        return Photo(attachment.filename, await attachment.read())
    except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("discord: could not download a teach photo: %s", exc)
        return None


class ProgressView:
    """One message edited with the progress; the outcome and the preview sheet posted after it."""

    def __init__(self) -> None:
        self.last = ""

    async def show(self, event: TeachProgress) -> None:
        text = progress_text(event)
        if text != self.last:
            self.last = text
            await self._edit(text)
        if event.status == "done" and event.preview:
            sheet = discord.File(io.BytesIO(event.preview), filename=f"{event.name.replace(' ', '-')}.png")
            await self._post(f"Your {event.name}, in eight moods", sheet)

    async def _edit(self, text: str) -> None:
        raise NotImplementedError

    async def _post(self, text: str, file: discord.File | None) -> None:
        raise NotImplementedError


class InteractionStatus(ProgressView):
    """The deferred reply, edited with the progress; the channel once the token has expired."""

    def __init__(self, interaction: discord.Interaction) -> None:
        super().__init__()
        self.interaction = interaction
        self.started = time.monotonic()
        self._expired = False

    @property
    def expired(self) -> bool:
        return self._expired or time.monotonic() - self.started > TOKEN_LIFETIME_S

    @expired.setter
    def expired(self, value: bool) -> None:
        self._expired = value

    async def _edit(self, text: str) -> None:
        if not self.expired:
            try:
                await self.interaction.edit_original_response(content=text)
                return
            except discord.HTTPException as exc:
                if not errors.is_gone(exc):
                    log.info("discord: progress edit failed: %s %s", exc.status, exc.code)
                    return
                self.expired = True
        if not text.startswith("Learning your"):  # no progress spam in the channel, only the outcome
            await self._post(text, None)

    async def _post(self, text: str, file: discord.File | None) -> None:
        kwargs = {"file": file} if file is not None else {}
        try:
            if not self.expired:
                await self.interaction.followup.send(text, **kwargs)
                return
        except discord.HTTPException as exc:
            if not errors.is_gone(exc):
                log.info("discord: teach notice failed: %s %s", exc.status, exc.code)
                return
            self.expired = True
        channel_id = self.interaction.channel_id
        if channel_id is None:
            return
        try:
            channel = self.interaction.client.get_partial_messageable(channel_id)
            await channel.send(f"<@{self.interaction.user.id}> {text}", **kwargs)
        except discord.HTTPException as exc:
            log.info("discord: teach notice to the channel failed: %s %s", exc.status, exc.code)


@app_commands.command(name="forget", description="Forget a subject you taught me (or 'all')")
@app_commands.describe(name="The subject's name, or 'all' for everything you taught me")
async def forget_command(interaction: discord.Interaction, name: app_commands.Range[str, 1, 40]) -> None:
    teaching = _teaching(interaction)
    if teaching is None:
        await errors.tell(interaction, TURNED_OFF)
        return
    who = teacher_of(interaction)
    try:
        text = await (
            teaching.forget_all(who) if name.strip().lower() == "all" else teaching.forget(who, name)
        )
    except TeachError as err:
        text = err.message
    await errors.tell(interaction, text)


@app_commands.command(name="teach-settings", description="Who may teach me subjects here (Manage Server)")
@app_commands.describe(
    members="May members teach subjects here?", sharing="Taught subjects: private to who taught, or shared"
)
@app_commands.choices(
    members=[app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")],
    sharing=[
        app_commands.Choice(name="private", value="private"),
        app_commands.Choice(name="server", value="server"),
    ],
)
async def teach_settings_command(
    interaction: discord.Interaction, members: str | None = None, sharing: str | None = None
) -> None:
    teaching = _teaching(interaction)
    if teaching is None:
        await errors.tell(interaction, TURNED_OFF)
        return
    if interaction.guild_id is None:
        await errors.tell(interaction, "That only works inside a server.")
        return
    who = teacher_of(interaction)
    try:
        text = await teaching.change_server_settings(who, members=members, sharing=sharing)
    except TeachError as err:
        text = err.message
    await errors.tell(interaction, text)


def progress_text(event: TeachProgress) -> str:
    if event.status == "running":
        filled = event.percent // 10
        return f"Learning your {event.name}: {'▓' * filled}{'░' * (10 - filled)} {event.percent}%"
    return event.message


def register(tree: app_commands.CommandTree) -> None:  # type: ignore[type-arg]
    tree.add_command(teach_command)
    tree.add_command(forget_command)
    tree.add_command(teach_settings_command)
