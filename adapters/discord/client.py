"""The discord.py client: minimal intents, commands synced once at start-up, persistent buttons."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import discord
import yarl
from discord import app_commands

from adapters.discord import commands, teach
from adapters.discord.buttons import DYNAMIC_ITEMS
from adapters.discord.context import DiscordContext
from adapters.discord.reactions import ReactionReplier
from adapters.discord.teach_inbox import TeachInbox
from bot.teaching.wiring import teaching_of

log = logging.getLogger(__name__)

IDENTIFY_INTERVAL_S = 5.0


def minimal_intents(*, messages: bool = False) -> discord.Intents:
    """Guilds (channels, roles, the bot's member) and guild reactions. No message content, no members.
    `messages` (teaching on): guild and DM messages, for /teach photos sent in a message mentioning
    the bot or in a DM, which Discord delivers with content without the privileged intent."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_reactions = True
    intents.guild_messages = intents.dm_messages = messages
    return intents


def _intents(ctx: DiscordContext) -> discord.Intents:
    return minimal_intents(messages=teaching_of(ctx.service) is not None)


async def sync_commands(tree: app_commands.CommandTree, guild_ids: list[int]) -> None:
    """Register the slash commands once: on the listed servers (instant, for development) or globally."""
    try:
        if guild_ids:
            for guild_id in guild_ids:
                guild = discord.Object(id=guild_id)
                tree.copy_global_to(guild=guild)
                synced = await tree.sync(guild=guild)
                log.info("synced %d slash commands to server %s", len(synced), guild_id)
        else:
            synced = await tree.sync()
            log.info("synced %d global slash commands", len(synced))
    except discord.HTTPException as exc:
        # Commands registered by an earlier start keep working; do not stop the bot over this.
        log.error("slash command sync failed (%s %s); keeping the registered commands", exc.status, exc.code)


class _StickerBehaviour:
    """What both the single-connection and the sharded client do."""

    ctx: DiscordContext
    tree: app_commands.CommandTree[Any]
    reactions: ReactionReplier
    connected: asyncio.Event
    teach_inbox: TeachInbox | None

    def _setup_sticker_bot(self, ctx: DiscordContext) -> None:
        self.ctx = ctx
        self.tree = app_commands.CommandTree(self)  # type: ignore[arg-type]
        commands.register(self.tree)
        self.teach_inbox = None
        if teaching_of(ctx.service) is not None:  # `teach.enabled`: attached before adapters
            teach.register(self.tree)  # /teach, /forget, /teach-settings
            self.teach_inbox = TeachInbox()  # photos sent in a later message
        self.reactions = ReactionReplier(ctx)
        self.connected = asyncio.Event()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(*DYNAMIC_ITEMS)  # type: ignore[attr-defined]
        await sync_commands(self.tree, list(self.ctx.config.guild_ids))

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self.reactions.handle(self, payload)  # type: ignore[arg-type]

    async def on_message(self, message: discord.Message) -> None:
        if self.teach_inbox is not None:
            await self.teach_inbox.handle(self, message)  # type: ignore[arg-type]

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("unhandled error in Discord event %s", event_method)


class StickerClient(_StickerBehaviour, discord.Client):
    def __init__(self, ctx: DiscordContext, **options: Any) -> None:
        super().__init__(intents=_intents(ctx), **options)
        self._setup_sticker_bot(ctx)

    async def on_connect(self) -> None:
        self.connected.set()


class ShardedStickerClient(_StickerBehaviour, discord.AutoShardedClient):
    """Many shards in one process. `shard_count=None` asks Discord how many (GET /gateway/bot)."""

    def __init__(self, ctx: DiscordContext, *, gateway: yarl.URL | None = None, **options: Any) -> None:
        super().__init__(intents=_intents(ctx), **options)
        self._setup_sticker_bot(ctx)
        self._gateway_override = gateway
        self._connected_shards: set[int] = set()
        self._max_concurrency = 1
        self._identify_locks: dict[int, asyncio.Lock] = {}
        self._last_identify: dict[int, float] = {}

    async def setup_hook(self) -> None:
        await super().setup_hook()
        try:
            limits = await self.fetch_session_start_limits()
            self._max_concurrency = max(1, limits.max_concurrency)
        except (discord.HTTPException, discord.GatewayNotFound) as exc:
            log.warning("session start limits unknown (%s); identifying one shard at a time", exc)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Discord's identify rate limit: bucket `shard_id % max_concurrency`, one IDENTIFY per bucket
        every 5 s. (discord.py's default waits 5 s before every shard but the first.)"""
        bucket = (shard_id or 0) % self._max_concurrency
        lock = self._identify_locks.setdefault(bucket, asyncio.Lock())
        async with lock:
            last = self._last_identify.get(bucket)
            if last is not None:
                wait = last + IDENTIFY_INTERVAL_S - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            self._last_identify[bucket] = time.monotonic()

    async def launch_shard(self, gateway: yarl.URL, shard_id: int, *, initial: bool = False) -> None:
        # Discord's answer to GET /gateway/bot names its own gateway; a configured one wins.
        await super().launch_shard(self._gateway_override or gateway, shard_id, initial=initial)

    async def on_shard_connect(self, shard_id: int) -> None:
        self._connected_shards.add(shard_id)
        expected = len(self.shard_ids) if self.shard_ids else self.shard_count  # this process's shards
        if expected is not None and len(self._connected_shards) >= expected:
            self.connected.set()


def build_client(ctx: DiscordContext, *, gateway: yarl.URL | None) -> discord.Client:
    # The bot never joins voice: skip discord.py's start-up warnings about missing voice libraries.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    shards = ctx.config.shards
    # Nothing the bot posts may ping anyone: texts can echo user input (prompts, style names).
    options: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
    if shards is None or shards == 1:
        return StickerClient(ctx, **options)
    if ctx.config.shard_ids:  # several processes split the shards: this one runs these
        options["shard_ids"] = list(ctx.config.shard_ids)
    return ShardedStickerClient(ctx, gateway=gateway, shard_count=shards if shards > 0 else None, **options)
