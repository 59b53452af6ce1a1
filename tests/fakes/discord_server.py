"""A fake Discord (gateway + REST) on 127.0.0.1 for driving the real discord.py client in tests.

It speaks just enough of Discord's protocol for the sticker bot: the gateway handshake
(HELLO → IDENTIFY → READY → GUILD_CREATE, heartbeats, sharding), test-injected dispatches
(INTERACTION_CREATE, MESSAGE_REACTION_ADD, MESSAGE_CREATE for users' messages and DMs) and the
REST routes the bot calls. MESSAGE_CREATE follows Discord's intent rules: no event without
GUILD_MESSAGES / DIRECT_MESSAGES, and content and attachments only with MESSAGE_CONTENT, in a DM,
or when the message mentions the bot; privileged intents the application was not granted close
the gateway with 4014. Every call is recorded, and checked against Discord's documented rules; a
broken rule is answered the way Discord answers it (an error status and code) and noted in
`violations`, which tests assert is empty. Faults (429 with Retry-After, 5xx, 403, Discord error
codes) can be injected per route.

Attachments are checked as stickers (WebP with alpha), or as PNG pictures (preview sheets).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web
from PIL import Image

DISCORD_EPOCH_MS = 1_420_070_400_000
INTERACTION_DEADLINE_S = 3.0
INTERACTION_TOKEN_TTL_S = 15 * 60
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_SERVER_STICKER_BYTES = 512 * 1024
FREE_STICKER_SLOTS = 5

# Permission bits (https://discord.com/developers/docs/topics/permissions)
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_GUILD_EXPRESSIONS = 1 << 30
MEMBER_PERMISSIONS = (
    VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | ADD_REACTIONS | USE_APPLICATION_COMMANDS
)
BOT_PERMISSIONS = MEMBER_PERMISSIONS | ATTACH_FILES | EMBED_LINKS | MANAGE_GUILD_EXPRESSIONS

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents)
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")
_ids = itertools.count(1)


_last_ms = 0


def snowflake() -> int:
    """A unique id with a distinct timestamp part, so guilds spread over shards ((id >> 22) % shards)."""
    global _last_ms
    _last_ms = max(int(time.time() * 1000), _last_ms + 1)
    return ((_last_ms - DISCORD_EPOCH_MS) << 22) | (next(_ids) & 0x3FFFFF)


def _iso_now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class FakeUser:
    id: int
    username: str
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.username,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    def member_payload(self, permissions: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user": self.payload(),
            "roles": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class FakeGuild:
    id: int
    name: str
    channel_ids: list[int]
    members: list[FakeUser]
    bot_permissions: int = BOT_PERMISSIONS
    sticker_slots: int = FREE_STICKER_SLOTS
    stickers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def channel_id(self) -> int:
        return self.channel_ids[0]

    def payload(self, bot: FakeUser) -> dict[str, Any]:
        everyone = {
            "id": str(self.id),
            "name": "@everyone",
            "permissions": str(MEMBER_PERMISSIONS),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        channels = [
            {
                "id": str(cid),
                "type": 0,
                "name": f"channel-{i}",
                "position": i,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
            }
            for i, cid in enumerate(self.channel_ids)
        ]
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "owner_id": str(self.members[0].id if self.members else bot.id),
            "roles": [everyone],
            "channels": channels,
            "threads": [],
            "members": [m.member_payload() for m in [*self.members, bot]],
            "member_count": len(self.members) + 1,
            "emojis": [],
            "stickers": list(self.stickers),
            "features": [],
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "large": False,
            "unavailable": False,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
        }


@dataclass
class Upload:
    filename: str
    data: bytes
    content_type: str | None


@dataclass
class FakeMessage:
    id: int
    channel_id: int
    guild_id: int | None
    content: str
    uploads: list[Upload]
    components: list[dict[str, Any]]
    flags: int
    author: FakeUser
    interaction_id: int | None = None
    reference: dict[str, Any] | None = None
    deleted: bool = False
    edits: int = 0
    history: list[str] = field(default_factory=list)  # every content the message had, oldest first

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": _iso_now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [
                {
                    "id": str(self.id + i),
                    "filename": up.filename,
                    "size": len(up.data),
                    "url": f"https://cdn.invalid/attachments/{self.id}/{up.filename}",
                    "proxy_url": f"https://media.invalid/attachments/{self.id}/{up.filename}",
                    "content_type": up.content_type,
                }
                for i, up in enumerate(self.uploads)
            ],
            "embeds": [],
            "pinned": False,
            "type": 0 if self.reference is None else 19,
            "flags": self.flags,
            "components": self.components,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.reference is not None:
            data["message_reference"] = self.reference
        return data

    def custom_ids(self) -> list[str]:
        return [
            c["custom_id"] for row in self.components for c in row.get("components", []) if "custom_id" in c
        ]


@dataclass
class FakeInteraction:
    """One interaction the fake dispatched, and everything the bot did with its token."""

    id: int
    token: str
    type: int
    guild_id: int | None
    channel_id: int
    user: FakeUser
    name: str
    dispatched_at: float = 0.0
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original: FakeMessage | None = None
    followups: list[FakeMessage] = field(default_factory=list)
    ephemeral_texts: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)

    @property
    def callback_type(self) -> int | None:
        return self.callbacks[0]["type"] if self.callbacks else None

    def messages(self) -> list[FakeMessage]:
        """Every visible message the interaction produced (the original first)."""
        found = [] if self.original is None or self.original.deleted else [self.original]
        return found + [m for m in self.followups if not m.deleted]

    def sticker_messages(self) -> list[FakeMessage]:
        return [m for m in self.messages() if m.uploads]

    def texts(self) -> list[str]:
        return [m.content for m in self.messages()] + self.ephemeral_texts

    @property
    def answered(self) -> bool:
        """Did the user get something final: stickers, or a text that is not a queue notice?"""
        if self.sticker_messages():
            return True
        return any(t and not t.startswith("⏳") for t in self.texts())

    def autocomplete_choices(self) -> list[dict[str, Any]]:
        for cb in self.callbacks:
            if cb["type"] == 8:
                return list(cb["data"]["choices"])
        return []


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    code: int
    message: str
    retry_after: float | None
    times: int


@dataclass
class Call:
    method: str
    path: str
    at: float
    status: int = 0
    body: Any = None


@dataclass
class GatewaySession:
    ws: web.WebSocketResponse
    shard: tuple[int, int] = (0, 1)
    identify: dict[str, Any] | None = None
    seq: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def intents(self) -> int:
        return int((self.identify or {}).get("intents") or 0)

    def owns(self, guild_id: int | None) -> bool:
        if guild_id is None:
            return self.shard[0] == 0
        return (guild_id >> 22) % self.shard[1] == self.shard[0]


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON the way Discord sends it: discord.py parses bodies only when the type is exactly this."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _snowflakes_as_strings(ref: dict[str, Any] | None) -> dict[str, Any] | None:
    """Clients may send ids as numbers; Discord stores and returns them as strings."""
    if ref is None:
        return None
    return {k: str(v) if k.endswith("_id") and v is not None else v for k, v in ref.items()}


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


class FakeDiscord:
    """Start with `await fake.start()`; point the bot at `api_base_url` and `gateway_url`."""

    def __init__(self, *, token: str = "fake-token") -> None:
        self.token = token
        self.bot = FakeUser(snowflake(), "Stickerbot", bot=True)
        self.application_id = snowflake()
        self.guilds: dict[int, FakeGuild] = {}
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.interactions: dict[int, FakeInteraction] = {}
        self.messages: dict[int, FakeMessage] = {}
        self.sessions: list[GatewaySession] = []
        self.identifies: list[dict[str, Any]] = []
        self.global_commands: list[dict[str, Any]] | None = None
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.command_syncs: list[tuple[int | None, float]] = []
        self.faults: list[Fault] = []
        self.max_concurrency = 16
        self._by_token: dict[str, FakeInteraction] = {}
        self.cdn: dict[int, Upload] = {}  # attachments users uploaded, served at /attachments/…
        self.cdn_downloads: list[int] = []
        self.granted_intents = 0  # privileged intents enabled for the application (portal switches)
        self.dm_channels: dict[int, FakeUser] = {}  # DM channel id -> the user the bot talks to
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        api = "/api/v10"
        r = app.router
        r.add_get(f"{api}/users/@me", self._get_me)
        r.add_get(f"{api}/oauth2/applications/@me", self._get_application)
        r.add_get(f"{api}/applications/@me", self._get_application)
        r.add_get(f"{api}/gateway/bot", self._get_gateway_bot)
        r.add_get(f"{api}/gateway", self._get_gateway_bot)
        r.add_put(f"{api}/applications/{{app}}/commands", self._put_global_commands)
        r.add_put(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._put_guild_commands)
        r.add_post(f"{api}/interactions/{{iid}}/{{token}}/callback", self._interaction_callback)
        r.add_post(f"{api}/webhooks/{{app}}/{{token}}", self._followup)
        r.add_route("*", f"{api}/webhooks/{{app}}/{{token}}/messages/{{mid}}", self._webhook_message)
        r.add_post(f"{api}/channels/{{cid}}/messages", self._create_message)
        r.add_patch(f"{api}/channels/{{cid}}/messages/{{mid}}", self._edit_message)
        r.add_get(f"{api}/channels/{{cid}}", self._get_channel)
        r.add_get(f"{api}/guilds/{{gid}}", self._get_guild)
        r.add_get(f"{api}/guilds/{{gid}}/members/{{uid}}", self._get_member)
        r.add_get(f"{api}/guilds/{{gid}}/stickers", self._list_stickers)
        r.add_post(f"{api}/guilds/{{gid}}/stickers", self._create_sticker)
        r.add_get("/attachments/{cid}/{aid}/{filename}", self._cdn_attachment)
        r.add_route("*", "/{tail:.*}", self._unknown_route)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for session in list(self.sessions):
            await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ------------------------------------------------------------------ world building
    def add_guild(self, name: str = "Test server", *, channels: int = 1, members: int = 2) -> FakeGuild:
        users = [FakeUser(snowflake(), f"{name}-user{i}") for i in range(members)]
        guild = FakeGuild(snowflake(), name, [snowflake() for _ in range(channels)], users)
        self.guilds[guild.id] = guild
        return guild

    def add_channel_message(
        self, guild: FakeGuild, author: FakeUser, content: str = "hello", *, channel_id: int | None = None
    ) -> FakeMessage:
        msg = FakeMessage(snowflake(), channel_id or guild.channel_id, guild.id, content, [], [], 0, author)
        self.messages[msg.id] = msg
        return msg

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        code: int = 0,
        message: str = "Injected error",
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls matching `method` and the `path` regex with an error."""
        self.faults.append(Fault(method.upper(), re.compile(path), status, code, message, retry_after, times))

    # ------------------------------------------------------------------ test-side events
    async def slash(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        name: str,
        options: list[dict[str, Any]] | None = None,
        *,
        channel_id: int | None = None,
        permissions: int = MEMBER_PERMISSIONS,
        autocomplete: bool = False,
    ) -> FakeInteraction:
        """Dispatch an application command (or its autocomplete) the way Discord does."""
        registered = self._find_command(guild, name)
        data: dict[str, Any] = {"id": registered["id"], "name": name, "type": 1, "options": options or []}
        attached = {
            str(o["value"]): self._attachment_payload(int(o["value"]), channel_id or 0)
            for o in options or []
            if o.get("type") == 11
        }
        if attached:  # Discord resolves attachment options in data.resolved.attachments
            data["resolved"] = {"attachments": attached}
        if guild is not None:
            data["guild_id"] = str(guild.id)
        return await self._dispatch_interaction(
            4 if autocomplete else 2, guild, user, data, channel_id=channel_id, permissions=permissions
        )

    def upload(self, filename: str, data: bytes, content_type: str = "image/jpeg") -> int:
        """A file a user attached to a command (before sending it); the option value is this id."""
        attachment_id = snowflake()
        self.cdn[attachment_id] = Upload(filename, data, content_type)
        return attachment_id

    def _attachment_payload(self, attachment_id: int, channel_id: int) -> dict[str, Any]:
        up = self.cdn.get(attachment_id)
        if up is None:
            raise AssertionError(f"attachment {attachment_id} was never uploaded (FakeDiscord.upload)")
        url = f"http://127.0.0.1:{self.port}/attachments/{channel_id}/{attachment_id}/{up.filename}"
        return {
            "id": str(attachment_id),
            "filename": up.filename,
            "size": len(up.data),
            "url": url + "?ex=0&is=0&hm=0",  # CDN URLs are signed and expire; the fake ignores that
            "proxy_url": url,
            "content_type": up.content_type,
            "ephemeral": True,
        }

    async def _cdn_attachment(self, request: web.Request) -> web.Response:
        up = self.cdn.get(int(request.match_info["aid"]))
        if up is None or up.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        self.cdn_downloads.append(int(request.match_info["aid"]))
        return web.Response(body=up.data, content_type=up.content_type or "application/octet-stream")

    async def click(
        self,
        message: FakeMessage,
        custom_id: str,
        user: FakeUser,
        *,
        permissions: int = MEMBER_PERMISSIONS,
    ) -> FakeInteraction:
        if custom_id not in message.custom_ids():
            raise AssertionError(f"no button {custom_id!r} on message {message.id}: {message.custom_ids()}")
        guild = self.guilds.get(message.guild_id) if message.guild_id else None
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._dispatch_interaction(
            3,
            guild,
            user,
            data,
            channel_id=message.channel_id,
            permissions=permissions,
            message=message.payload(),
        )

    async def react(self, guild: FakeGuild, message: FakeMessage, user: FakeUser, emoji: str) -> None:
        data = {
            "user_id": str(user.id),
            "channel_id": str(message.channel_id),
            "message_id": str(message.id),
            "guild_id": str(guild.id),
            "member": user.member_payload(),
            "emoji": {"id": None, "name": emoji},
            "message_author_id": str(message.author.id),
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }
        await self.dispatch("MESSAGE_REACTION_ADD", data, guild.id)

    async def user_message(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        content: str = "",
        files: list[tuple[str, bytes]] | None = None,
        *,
        mention_bot: bool = False,
        channel_id: int | None = None,
    ) -> tuple[FakeMessage, bool]:
        """A user posts a message (guild None: a DM to the bot); returns it and whether the bot's
        session got a MESSAGE_CREATE. Content and attachments reach the bot only the way Discord
        lets them: in a DM, with the bot mentioned, or with the MESSAGE_CONTENT intent."""
        if guild is None:
            channel = next((c for c, u in self.dm_channels.items() if u.id == user.id), None) or snowflake()
            self.dm_channels[channel] = user
        else:
            channel = channel_id or guild.channel_id
        if mention_bot:
            content = f"<@{self.bot.id}> {content}".strip()
        msg = FakeMessage(snowflake(), channel, guild.id if guild else None, content, [], [], 0, user)
        self.messages[msg.id] = msg
        attachments = [
            {
                k: v
                for k, v in self._attachment_payload(self.upload(name, data), channel).items()
                if k != "ephemeral"
            }
            for name, data in files or []
        ]
        msg.uploads = [Upload(name, data, "image/jpeg") for name, data in files or []]
        payload = {**msg.payload(), "attachments": attachments}
        if mention_bot:
            mentioned = self.bot.payload()
            if guild is not None:
                mentioned["member"] = {k: v for k, v in self.bot.member_payload().items() if k != "user"}
            payload["mentions"] = [mentioned]
        if guild is not None:
            payload["member"] = {k: v for k, v in user.member_payload().items() if k != "user"}
        needed = INTENT_GUILD_MESSAGES if guild is not None else INTENT_DIRECT_MESSAGES
        targets = [
            t for t in self.sessions if t.identify is not None and t.owns(msg.guild_id) and t.intents & needed
        ]
        if not targets:
            return msg, False
        readable = guild is None or mention_bot or targets[0].intents & INTENT_MESSAGE_CONTENT
        if not readable:  # what Discord sends a bot without the message-content intent
            payload.update(content="", attachments=[], embeds=[], components=[])
        await self._send_dispatch(targets[0], "MESSAGE_CREATE", payload)
        return msg, True

    async def dispatch(self, event: str, data: dict[str, Any], guild_id: int | None) -> None:
        targets = [s for s in self.sessions if s.identify is not None and s.owns(guild_id)]
        if not targets:
            raise AssertionError(f"no identified gateway session for guild {guild_id}")
        await self._send_dispatch(targets[0], event, data)

    async def wait_for(self, predicate: Callable[[], bool], within_s: float = 10.0, what: str = "") -> None:
        deadline = time.monotonic() + within_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or predicate}")
            await asyncio.sleep(0.02)

    async def wait_answered(self, interaction: FakeInteraction, within_s: float = 10.0) -> FakeInteraction:
        await self.wait_for(lambda: interaction.answered, within_s, f"an answer to /{interaction.name}")
        return interaction

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        rx = re.compile(pattern)
        return [c for c in self.calls if c.method == method and rx.search(c.path)]

    def channel_messages(self, channel_id: int) -> list[FakeMessage]:
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id and m.interaction_id is None and m.author.id == self.bot.id
        ]

    # ------------------------------------------------------------------ internals: dispatch
    def _find_command(self, guild: FakeGuild | None, name: str) -> dict[str, Any]:
        pools = []
        if guild is not None:
            pools.append(self.guild_commands.get(guild.id, []))
        pools.append(self.global_commands or [])
        for pool in pools:
            for cmd in pool:
                if cmd["name"] == name:
                    return cmd
        raise AssertionError(f"command /{name} was never registered")

    async def _dispatch_interaction(
        self,
        kind: int,
        guild: FakeGuild | None,
        user: FakeUser,
        data: dict[str, Any],
        *,
        channel_id: int | None,
        permissions: int,
        message: dict[str, Any] | None = None,
    ) -> FakeInteraction:
        channel = channel_id or (guild.channel_id if guild else snowflake())
        name = data.get("name") or data.get("custom_id", "")
        interaction = FakeInteraction(
            snowflake(),
            "itok-" + secrets.token_urlsafe(24),
            kind,
            guild.id if guild else None,
            channel,
            user,
            name,
        )
        payload: dict[str, Any] = {
            "id": str(interaction.id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "channel_id": str(channel),
            "token": interaction.token,
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id) if guild else "0"},
            "context": 0 if guild else 1,
            "attachment_size_limit": MAX_ATTACHMENT_BYTES,
        }
        if guild is not None:
            payload["guild_id"] = str(guild.id)
            payload["guild_locale"] = "en-US"
            payload["member"] = user.member_payload(permissions)
            payload["app_permissions"] = str(guild.bot_permissions)
            payload["channel"] = {
                "id": str(channel),
                "type": 0,
                "guild_id": str(guild.id),
                "name": "channel",
                "permissions": str(permissions),
            }
        else:
            payload["user"] = user.payload()
            payload["app_permissions"] = str(BOT_PERMISSIONS)
            payload["channel"] = {"id": str(channel), "type": 1, "recipients": [user.payload()]}
        if message is not None:
            payload["message"] = message
        self.interactions[interaction.id] = interaction
        self._by_token[interaction.token] = interaction
        interaction.dispatched_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload, guild.id if guild else None)
        return interaction

    async def _send_dispatch(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        async with session.lock:
            session.seq += 1
            await session.ws.send_str(json.dumps({"op": 0, "t": event, "s": session.seq, "d": data}))

    # ------------------------------------------------------------------ internals: gateway
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        session = GatewaySession(ws)
        self.sessions.append(session)
        try:
            await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:
                    await ws.send_str(json.dumps({"op": 11}))
                elif op == 2:
                    await self._identify(session, frame["d"])
                elif op == 6:  # RESUME: sessions do not survive here; ask for a fresh IDENTIFY
                    await ws.send_str(json.dumps({"op": 9, "d": False}))
        finally:
            self.sessions.remove(session)
        return ws

    async def _identify(self, session: GatewaySession, data: dict[str, Any]) -> None:
        if data.get("token") != self.token:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        if int(data.get("intents") or 0) & PRIVILEGED_INTENTS & ~self.granted_intents:
            await session.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = data.get("shard") or [0, 1]
        session.shard = (int(shard[0]), int(shard[1]))
        session.identify = data
        self.identifies.append(data)
        mine = [g for g in self.guilds.values() if session.owns(g.id)]
        ready = {
            "v": 10,
            "user": self.bot.payload(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in mine],
            "session_id": secrets.token_hex(16),
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "shard": list(session.shard),
            "private_channels": [],
            "relationships": [],
        }
        await self._send_dispatch(session, "READY", ready)
        for guild in mine:
            await self._send_dispatch(session, "GUILD_CREATE", guild.payload(self.bot))

    # ------------------------------------------------------------------ internals: REST plumbing
    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        call = Call(request.method, request.path, time.monotonic())
        if request.path != "/gateway":
            self.calls.append(call)
            fault = self._take_fault(request.method, request.path)
            if fault is not None:
                call.status = fault.status
                return self._fault_response(fault)
            public = request.path.startswith(("/api/v10/webhooks/", "/attachments/"))  # no bot token
            if not public and "/callback" not in request.path:
                if request.headers.get("Authorization") != f"Bot {self.token}":
                    call.status = 401
                    return _error(401, 0, "401: Unauthorized")
        response = await handler(request)
        call.status = response.status
        return response

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and fault.path.search(path):
                fault.times -= 1
                return fault
        return None

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        if fault.status == 429:
            retry = fault.retry_after if fault.retry_after is not None else 1.0
            headers = {
                "Retry-After": f"{retry:.3f}",
                "X-RateLimit-Scope": "user",
                "X-RateLimit-Global": "false",
                "Via": "1.1 google",
            }
            body = {"message": "You are being rate limited.", "retry_after": retry, "global": False}
            return _json(body, status=429, headers=headers)
        return _error(fault.status, fault.code, fault.message)

    def _violation(self, text: str) -> None:
        self.violations.append(text)

    async def _read_message_body(self, request: web.Request) -> tuple[dict[str, Any], list[Upload]]:
        """A JSON body, or multipart with payload_json and files[n]."""
        if not request.content_type.startswith("multipart/"):
            return (await request.json()) if request.can_read_body else {}, []
        payload: dict[str, Any] = {}
        uploads: dict[str, Upload] = {}
        reader = await request.multipart()
        async for part in reader:
            name = part.name or ""
            if name == "payload_json":
                payload = json.loads(await part.text())
            else:
                uploads[name] = Upload(
                    part.filename or "", bytes(await part.read()), part.headers.get("Content-Type")
                )
        listed = payload.get("attachments", [])
        files = []
        for i, (name, upload) in enumerate(sorted(uploads.items())):
            if name != f"files[{i}]":
                self._violation(f"multipart file field {name!r} out of order (expected files[{i}])")
            if not any(str(a.get("id")) == str(i) and a.get("filename") == upload.filename for a in listed):
                self._violation(f"upload {name} ({upload.filename}) not listed in payload_json.attachments")
            files.append(upload)
        return payload, files

    def _check_message(self, where: str, payload: dict[str, Any], uploads: list[Upload]) -> str | None:
        """Discord's message rules; returns an error text (and records it) when one is broken."""
        problems = []
        content = payload.get("content") or ""
        if len(content) > 2000:
            problems.append(f"content is {len(content)} chars (max 2000)")
        if re.search(r"@everyone|@here|<@[&!]?\d+>", content):
            allowed = payload.get("allowed_mentions")
            if allowed is None or allowed.get("parse") or allowed.get("users") or allowed.get("roles"):
                problems.append(f"content {content[:40]!r} would ping (no allowed_mentions limit)")
        if len(uploads) > 10:
            problems.append(f"{len(uploads)} attachments (max 10)")
        for up in uploads:
            problems.extend(self._check_sticker_attachment(up))
        rows = payload.get("components") or []
        if len(rows) > 5:
            problems.append(f"{len(rows)} component rows (max 5)")
        seen: set[str] = set()
        for row in rows:
            buttons = row.get("components", [])
            if row.get("type") != 1 or not 1 <= len(buttons) <= 5:
                problems.append("an action row must hold 1-5 components")
            for button in buttons:
                cid = button.get("custom_id")
                if cid is not None:
                    if not 1 <= len(cid) <= 100:
                        problems.append(f"custom_id {cid!r} must be 1-100 chars")
                    if cid in seen:
                        problems.append(f"duplicate custom_id {cid!r}")
                    seen.add(cid)
                if len(button.get("label") or "") > 80:
                    problems.append("button label over 80 chars")
        if not content and not uploads and not rows and not payload.get("embeds") and where != "edit":
            problems.append("message is empty (no content, attachments, components or embeds)")
        if problems:
            text = f"{where}: " + "; ".join(problems)
            self._violation(text)
            return text
        return None

    @staticmethod
    def _check_sticker_attachment(up: Upload) -> list[str]:
        if len(up.data) > MAX_ATTACHMENT_BYTES:
            return [f"{up.filename} is {len(up.data)} bytes (over the upload limit)"]
        try:
            with Image.open(io.BytesIO(up.data)) as img:
                fmt, mode, info = img.format, img.mode, dict(img.info)
                img.load()
        except Exception as exc:
            return [f"{up.filename} does not decode as an image ({exc})"]
        if fmt == "PNG" and up.filename.endswith(".png"):  # a picture (e.g. a preview sheet), not a sticker
            return []
        if fmt not in ("WEBP", "GIF"):  # GIF: animated stickers (Discord animates GIF attachments)
            return [f"{up.filename} is {fmt}, expected WEBP or GIF"]
        if "A" not in mode and "transparency" not in info:
            return [f"{up.filename} has no alpha channel (mode {mode})"]
        return []

    def _bot_message(
        self,
        channel_id: int,
        guild_id: int | None,
        payload: dict[str, Any],
        uploads: list[Upload],
        *,
        interaction_id: int | None = None,
        flags: int = 0,
    ) -> FakeMessage:
        msg = FakeMessage(
            snowflake(),
            channel_id,
            guild_id,
            payload.get("content") or "",
            uploads,
            payload.get("components") or [],
            flags | int(payload.get("flags") or 0),
            self.bot,
            interaction_id=interaction_id,
            reference=_snowflakes_as_strings(payload.get("message_reference")),
        )
        self.messages[msg.id] = msg
        return msg

    def _live_interaction(self, token: str) -> FakeInteraction | None:
        interaction = self._by_token.get(token)
        if interaction is None or time.monotonic() - interaction.dispatched_at > INTERACTION_TOKEN_TTL_S:
            return None
        return interaction

    # ------------------------------------------------------------------ REST handlers
    async def _unknown_route(self, request: web.Request) -> web.Response:
        self._violation(f"unexpected call {request.method} {request.path}")
        return _error(404, 0, "404: Not Found")

    async def _get_me(self, request: web.Request) -> web.Response:
        return _json({**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0})

    async def _get_application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.application_id),
                "name": "Stickerbot",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": self.bot.payload(),
                "flags": 0,
                "team": None,
                "interactions_endpoint_url": None,
            }
        )

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        # max_concurrency > 1 (as large bots get) lets the test shards identify without 5 s pauses.
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": self.max_concurrency}
        return _json({"url": self.gateway_url, "shards": 2, "session_start_limit": limit})

    def _check_commands(self, commands: Any) -> list[str]:
        problems = []
        if not isinstance(commands, list) or len(commands) > 100:
            return ["bulk overwrite needs a list of at most 100 commands"]
        for cmd in commands:
            problems.extend(self._check_command(cmd, depth=0))
        return problems

    def _check_command(self, cmd: dict[str, Any], depth: int) -> list[str]:
        name = cmd.get("name", "")
        problems = []
        if not _COMMAND_NAME.match(name) or name != name.lower():
            problems.append(f"bad command/option name {name!r}")
        if cmd.get("type", 1) in (1, None) and not 1 <= len(cmd.get("description", "")) <= 100:
            problems.append(f"{name}: description must be 1-100 chars")
        options = cmd.get("options") or []
        if len(options) > 25:
            problems.append(f"{name}: more than 25 options")
        optional_seen = False
        for opt in options:
            if opt.get("type") in (1, 2):
                if depth >= 2:
                    problems.append(f"{name}: subcommands nested too deep")
                problems.extend(self._check_command(opt, depth + 1))
                continue
            if opt.get("required"):
                if optional_seen:
                    problems.append(f"{name}: required option {opt.get('name')} after an optional one")
            else:
                optional_seen = True
            if opt.get("autocomplete") and opt.get("choices"):
                problems.append(f"{name}: option {opt.get('name')} has both autocomplete and choices")
            problems.extend(self._check_command({**opt, "options": []}, depth + 1))
        return problems

    def _store_commands(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {**cmd, "id": str(snowflake()), "application_id": str(self.application_id), "version": "1"}
            for cmd in commands
        ]

    async def _put_global_commands(self, request: web.Request) -> web.Response:
        commands = await request.json()
        problems = self._check_commands(commands)
        if problems:
            self._violation("global command sync: " + "; ".join(problems))
            return _error(400, 50035, "Invalid Form Body")
        self.global_commands = self._store_commands(commands)
        self.command_syncs.append((None, time.monotonic()))
        return _json(self.global_commands)

    async def _put_guild_commands(self, request: web.Request) -> web.Response:
        guild_id = int(request.match_info["guild"])
        commands = await request.json()
        problems = self._check_commands(commands)
        if problems:
            self._violation("guild command sync: " + "; ".join(problems))
            return _error(400, 50035, "Invalid Form Body")
        self.guild_commands[guild_id] = self._store_commands(commands)
        self.command_syncs.append((guild_id, time.monotonic()))
        return _json(self.guild_commands[guild_id])

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        interaction = self.interactions.get(int(request.match_info["iid"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            self._violation(f"callback for an unknown interaction {request.match_info['iid']}")
            return _error(404, 10062, "Unknown interaction")
        late = time.monotonic() - interaction.dispatched_at
        if late > INTERACTION_DEADLINE_S:
            self._violation(f"/{interaction.name}: first response after {late:.2f}s (limit 3 s)")
            return _error(404, 10062, "Unknown interaction")
        if interaction.acknowledged:
            self._violation(f"/{interaction.name}: interaction acknowledged twice")
            return _error(400, 40060, "Interaction has already been acknowledged.")
        body, uploads = await self._read_message_body(request)
        kind = body.get("type")
        allowed = {2: {4, 5}, 3: {4, 5, 6, 7}, 4: {8}}[interaction.type]
        if kind not in allowed:
            self._violation(
                f"/{interaction.name}: callback type {kind} not allowed for interaction {interaction.type}"
            )
            return _error(400, 50035, "Invalid Form Body")
        data = body.get("data") or {}
        if kind == 8 and len(data.get("choices", [])) > 25:
            self._violation(f"/{interaction.name}: more than 25 autocomplete choices")
            return _error(400, 50035, "Invalid Form Body")
        if kind in (4, 7) and self._check_message("callback", data, uploads):
            return _error(400, 50035, "Invalid Form Body")
        interaction.callbacks.append({"type": kind, "data": data, "at": time.monotonic()})
        result: dict[str, Any] = {"interaction": {"id": str(interaction.id), "type": interaction.type}}
        ephemeral = bool(int(data.get("flags") or 0) & 64)
        if kind == 4 and ephemeral:
            interaction.ephemeral_texts.append(data.get("content") or "")
        if kind in (4, 5):
            flags = 128 if kind == 5 else 0
            msg = self._bot_message(
                interaction.channel_id,
                interaction.guild_id,
                data,
                uploads,
                interaction_id=interaction.id,
                flags=flags,
            )
            interaction.original = msg
            result["interaction"].update(
                response_message_id=str(msg.id),
                response_message_loading=kind == 5,
                response_message_ephemeral=ephemeral,
            )
            if kind == 4:
                result["resource"] = {"type": 4, "message": msg.payload()}
        return _json(result)

    async def _followup(self, request: web.Request) -> web.Response:
        interaction = self._live_interaction(request.match_info["token"])
        if interaction is None or request.match_info["app"] != str(self.application_id):
            self._violation(f"follow-up with an unknown or expired token {request.path}")
            return _error(404, 10015, "Unknown Webhook")
        if not interaction.acknowledged:
            self._violation(f"/{interaction.name}: follow-up before the interaction was acknowledged")
            return _error(404, 10015, "Unknown Webhook")
        payload, uploads = await self._read_message_body(request)
        if self._check_message("follow-up", payload, uploads):
            return _error(400, 50035, "Invalid Form Body")
        original = interaction.original
        if (
            interaction.callback_type == 5
            and original is not None
            and not original.deleted
            and original.flags & 128
        ):
            # Discord: the first follow-up after a thinking defer replaces the loading message,
            # keeping the loading message's visibility.
            target = original
            if int(payload.get("flags") or 0) & 64 and not target.flags & 64:
                self._violation(
                    f"/{interaction.name}: ephemeral follow-up would replace a public loading message"
                )
            self._apply_edit(target, payload, uploads)
            target.flags = int(payload.get("flags") or 0)
            msg = target
        else:
            msg = self._bot_message(
                interaction.channel_id, interaction.guild_id, payload, uploads, interaction_id=interaction.id
            )
            interaction.followups.append(msg)
        if int(payload.get("flags") or 0) & 64:
            interaction.ephemeral_texts.append(payload.get("content") or "")
        return _json(msg.payload())

    def _apply_edit(self, msg: FakeMessage, payload: dict[str, Any], uploads: list[Upload]) -> None:
        if "content" in payload:
            msg.content = payload["content"] or ""
            msg.history.append(msg.content)
        if "components" in payload:
            msg.components = payload["components"] or []
        if "attachments" in payload or uploads:
            kept_ids = {str(a.get("id")) for a in payload.get("attachments", [])}
            kept = [u for i, u in enumerate(msg.uploads) if str(msg.id + i) in kept_ids]
            msg.uploads = kept + uploads
        msg.flags &= ~128
        msg.edits += 1

    async def _webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._live_interaction(request.match_info["token"])
        if interaction is None or request.match_info["app"] != str(self.application_id):
            self._violation(f"webhook message call with an unknown or expired token {request.path}")
            return _error(404, 10015, "Unknown Webhook")
        mid = request.match_info["mid"]
        if mid == "@original":
            msg = interaction.original
        else:
            msg = next((m for m in interaction.followups if str(m.id) == mid), None)
        if msg is None or msg.deleted:
            self._violation(f"/{interaction.name}: {request.method} on a missing message {mid}")
            return _error(404, 10008, "Unknown Message")
        if request.method == "GET":
            return _json(msg.payload())
        if request.method == "DELETE":
            msg.deleted = True
            return web.Response(status=204)
        if request.method != "PATCH":
            return _error(405, 0, "405: Method Not Allowed")
        payload, uploads = await self._read_message_body(request)
        if self._check_message("edit", payload, uploads):
            return _error(400, 50035, "Invalid Form Body")
        self._apply_edit(msg, payload, uploads)
        return _json(msg.payload())

    async def _create_message(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["cid"])
        guild = next((g for g in self.guilds.values() if channel_id in g.channel_ids), None)
        if guild is None and channel_id not in self.dm_channels:
            return _error(404, 10003, "Unknown Channel")
        payload, uploads = await self._read_message_body(request)
        if uploads and guild is not None and not guild.bot_permissions & ATTACH_FILES:
            return _error(403, 50013, "Missing Permissions")
        if self._check_message("message", payload, uploads):
            return _error(400, 50035, "Invalid Form Body")
        ref = payload.get("message_reference")
        if ref is not None:
            target = self.messages.get(int(ref.get("message_id", 0)))
            missing = target is None or target.deleted or target.channel_id != channel_id
            if missing and ref.get("fail_if_not_exists", True):
                return _error(400, 50035, "Invalid Form Body: Unknown message")
        msg = self._bot_message(channel_id, guild.id if guild else None, payload, uploads)
        return _json(msg.payload())

    async def _edit_message(self, request: web.Request) -> web.Response:
        msg = self.messages.get(int(request.match_info["mid"]))
        if msg is None or msg.deleted or msg.channel_id != int(request.match_info["cid"]):
            return _error(404, 10008, "Unknown Message")
        if msg.author.id != self.bot.id:
            return _error(403, 50005, "Cannot edit a message authored by another user")
        payload, uploads = await self._read_message_body(request)
        if self._check_message("edit", payload, uploads):
            return _error(400, 50035, "Invalid Form Body")
        self._apply_edit(msg, payload, uploads)
        return _json(msg.payload())

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["cid"])
        for guild in self.guilds.values():
            if channel_id in guild.channel_ids:
                return _json(
                    {
                        "id": str(channel_id),
                        "type": 0,
                        "guild_id": str(guild.id),
                        "name": "channel",
                        "position": 0,
                    }
                )
        return _error(404, 10003, "Unknown Channel")

    async def _get_guild(self, request: web.Request) -> web.Response:
        guild = self.guilds.get(int(request.match_info["gid"]))
        if guild is None:
            return _error(404, 10004, "Unknown Guild")
        return _json(guild.payload(self.bot))

    async def _get_member(self, request: web.Request) -> web.Response:
        guild = self.guilds.get(int(request.match_info["gid"]))
        uid = int(request.match_info["uid"])
        if guild is None:
            return _error(404, 10004, "Unknown Guild")
        for member in [*guild.members, self.bot]:
            if member.id == uid:
                return _json(member.member_payload())
        return _error(404, 10007, "Unknown Member")

    async def _list_stickers(self, request: web.Request) -> web.Response:
        guild = self.guilds.get(int(request.match_info["gid"]))
        if guild is None:
            return _error(404, 10004, "Unknown Guild")
        return _json(guild.stickers)

    async def _create_sticker(self, request: web.Request) -> web.Response:
        guild = self.guilds.get(int(request.match_info["gid"]))
        if guild is None:
            return _error(404, 10004, "Unknown Guild")
        if not guild.bot_permissions & MANAGE_GUILD_EXPRESSIONS:
            return _error(403, 50013, "Missing Permissions")
        fields: dict[str, str] = {}
        file: Upload | None = None
        reader = await request.multipart()
        async for part in reader:
            if part.name == "file":
                file = Upload(part.filename or "", bytes(await part.read()), part.headers.get("Content-Type"))
            elif part.name:
                fields[part.name] = await part.text()
        problems = []
        name, tags, description = (
            fields.get("name", ""),
            fields.get("tags", ""),
            fields.get("description", ""),
        )
        if not 2 <= len(name) <= 30:
            problems.append(f"name {name!r} must be 2-30 chars")
        if not 2 <= len(tags) <= 200:
            problems.append(f"tags {tags!r} must be 2-200 chars")
        if description and not 2 <= len(description) <= 100:
            problems.append("description must be empty or 2-100 chars")
        if file is None:
            problems.append("no file")
        else:
            problems.extend(self._check_server_sticker(file))
        if problems:
            self._violation("server sticker: " + "; ".join(problems))
            return _error(400, 50035, "Invalid Form Body")
        if len(guild.stickers) >= guild.sticker_slots:
            return _error(400, 30039, "Maximum number of stickers reached")
        sticker = {
            "id": str(snowflake()),
            "name": name,
            "tags": tags,
            "description": description or None,
            "type": 2,
            "format_type": 1,
            "available": True,
            "guild_id": str(guild.id),
            "user": self.bot.payload(),
        }
        guild.stickers.append(sticker)
        return _json(sticker)

    @staticmethod
    def _check_server_sticker(file: Upload) -> list[str]:
        if len(file.data) > MAX_SERVER_STICKER_BYTES:
            return [f"file is {len(file.data)} bytes (max 512 KiB)"]
        try:
            with Image.open(io.BytesIO(file.data)) as img:
                fmt, size = img.format, img.size
                frames = getattr(img, "n_frames", 1)
                total_ms = 0.0
                for i in range(frames):  # APNG and GIF: every frame decodes, at most 5 s in all
                    img.seek(i)
                    img.load()
                    total_ms += float(img.info.get("duration", 0) or 0)
        except Exception as exc:
            return [f"file does not decode ({exc})"]
        if fmt not in ("PNG", "GIF"):
            return [f"file is {fmt}; server stickers must be PNG, APNG or GIF (WebP is not accepted)"]
        if size != (320, 320):
            return [f"file is {size[0]}x{size[1]}; server stickers must be 320x320"]
        if frames > 1 and total_ms > 5000:
            return [f"animation lasts {total_ms / 1000:.1f} s; server stickers may last at most 5 s"]
        return []
