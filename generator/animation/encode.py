"""Animated sticker encoders with hard platform limits, each checked by decoding what it wrote.

- Telegram video sticker: WEBM, VP9 with alpha (yuva420p, PyAV's bundled libvpx-vp9), one side exactly
  512 px, at most 3 s, 30 fps and 256 KB, no audio. Quality steps down first, then the frame rate.
- Discord: GIF for message attachments (animates everywhere), server stickers as APNG or GIF at 320x320,
  at most 512 KiB and 5 s.
- Web room: animated WebP with alpha.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from PIL import Image

from generator.animation.errors import AnimationEncodingFailed, pyav_missing
from generator.animation.motion import Clip

TELEGRAM_SIDE = 512
TELEGRAM_MAX_BYTES = 256_000  # "256 KB": the decimal reading is the safe one
TELEGRAM_MAX_S = 3.0
TELEGRAM_MAX_FPS = 30
DISCORD_STICKER_SIDE = 320
DISCORD_STICKER_MAX_BYTES = 512 * 1024
DISCORD_STICKER_MAX_S = 5.0
FORMATS = ("webm", "gif", "webp", "apng")
SUFFIXES = {".webm": "webm", ".gif": "gif", ".webp": "webp", ".png": "apng", ".apng": "apng"}
MIME = {"webm": "video/webm", "gif": "image/gif", "webp": "image/webp", "apng": "image/apng"}

_CRF_LADDER = (30, 38, 46, 54, 63)  # libvpx-vp9 constant quality, best to smallest
_FPS_LADDER = (30, 24, 20, 15, 12, 10)


@dataclass(frozen=True, slots=True)
class WebmInfo:
    width: int
    height: int
    frames: int
    fps: float
    duration_s: float
    has_audio: bool
    transparent_frames: int
    opaque_frames: int


# --------------------------------------------------------------------------- helpers
def _retime(clip: Clip, fps: float) -> Clip:
    """The same loop at a lower frame rate (nearest source frame for each new time step)."""
    if fps >= clip.fps:
        return clip
    count = max(2, round(clip.duration_s * fps))
    picks = [min(len(clip.frames) - 1, int(i * len(clip.frames) / count)) for i in range(count)]
    return Clip(frames=tuple(clip.frames[i] for i in picks), fps=count / clip.duration_s, motion=clip.motion)


def _fit_square(clip: Clip, side: int) -> Clip:
    """Scale frames so the longer side is `side` and centre them on a transparent square."""
    w, h = clip.size
    if (w, h) == (side, side):
        return clip
    scale = side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = []
    for frame in clip.frames:
        scaled = frame.convert("RGBa").resize(size, Image.Resampling.LANCZOS).convert("RGBA")
        canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        canvas.paste(scaled, ((side - size[0]) // 2, (side - size[1]) // 2))
        out.append(canvas)
    return Clip(frames=tuple(out), fps=clip.fps, motion=clip.motion)


def _fps_fraction(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1000)


# --------------------------------------------------------------------------- Telegram WEBM
def _import_av():
    try:
        import av
    except ImportError:
        raise pyav_missing() from None
    return av


def _webm(clip: Clip, crf: int) -> bytes:
    av = _import_av()
    buffer = io.BytesIO()
    rate = _fps_fraction(clip.fps)
    with av.open(buffer, "w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=rate)
        stream.width, stream.height = clip.size
        stream.pix_fmt = "yuva420p"
        stream.time_base = 1 / rate
        stream.options = {
            "crf": str(crf),
            "b": "0",
            "row-mt": "1",
            "auto-alt-ref": "0",  # alt-ref frames drop the alpha plane in libvpx
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
        }
        for i, image in enumerate(clip.frames):
            frame = av.VideoFrame.from_ndarray(np.asarray(image.convert("RGBA")), format="rgba")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def decode_webm(data: bytes) -> tuple[list[np.ndarray], WebmInfo]:
    """Decode a WEBM with libvpx (FFmpeg's native vp9 decoder drops alpha): RGBA frames and facts."""
    av = _import_av()
    try:
        with av.open(io.BytesIO(data), "r", format="webm") as container:
            video = container.streams.video[0]
            has_audio = len(container.streams.audio) > 0
            rate = video.average_rate or video.guessed_rate
            decoder = av.CodecContext.create("libvpx-vp9", "r")
            frames: list[np.ndarray] = []
            for packet in container.demux(video):  # the last, empty packet flushes the decoder
                for frame in decoder.decode(packet):
                    frames.append(frame.to_ndarray(format="rgba"))
            duration = (
                float(container.duration / av.time_base) if container.duration else len(frames) / float(rate)
            )
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        raise AnimationEncodingFailed("The video sticker could not be read back.") from exc
    if not frames:
        raise AnimationEncodingFailed("The video sticker has no frames.")
    alpha = [f[..., 3] for f in frames]
    info = WebmInfo(
        width=frames[0].shape[1],
        height=frames[0].shape[0],
        frames=len(frames),
        fps=float(rate),
        duration_s=duration,
        has_audio=has_audio,
        transparent_frames=sum(bool((a < 16).any()) for a in alpha),
        opaque_frames=sum(bool((a > 240).any()) for a in alpha),
    )
    return frames, info


def check_telegram_webm(data: bytes) -> WebmInfo:
    """Decode `data` and check every Telegram video-sticker rule; returns what was found."""
    if len(data) > TELEGRAM_MAX_BYTES:
        raise AnimationEncodingFailed("The video sticker came out too large.", detail=f"{len(data)} bytes")
    _, info = decode_webm(data)
    problems = []
    if max(info.width, info.height) != TELEGRAM_SIDE:
        problems.append(f"size {info.width}x{info.height}")
    if info.duration_s > TELEGRAM_MAX_S + 1e-3:
        problems.append(f"{info.duration_s:.2f} s")
    if info.fps > TELEGRAM_MAX_FPS + 1e-3:
        problems.append(f"{info.fps:.1f} fps")
    if info.has_audio:
        problems.append("audio stream")
    if info.transparent_frames < info.frames:
        problems.append("frames without transparency")
    if problems:
        raise AnimationEncodingFailed(
            "The video sticker breaks Telegram's rules.", detail=", ".join(problems)
        )
    return info


def _telegram_attempts(clip: Clip) -> Iterator[tuple[Clip, int]]:
    """Quality first (every CRF at the clip's rate), then ever lower frame rates at the lowest quality."""
    clip = _retime(clip, TELEGRAM_MAX_FPS)
    for crf in _CRF_LADDER:
        yield clip, crf
    for fps in _FPS_LADDER:
        if fps < clip.fps:
            yield _retime(clip, fps), _CRF_LADDER[-1]


def encode_telegram_webm(clip: Clip) -> bytes:
    """WEBM VP9 with alpha within Telegram's limits: quality steps down, then the frame rate."""
    if clip.duration_s > TELEGRAM_MAX_S + 1e-6:
        raise AnimationEncodingFailed("Video stickers can last at most 3 seconds.")
    clip = _fit_square(clip, TELEGRAM_SIDE) if max(clip.size) != TELEGRAM_SIDE else clip
    last = 0
    for attempt, crf in _telegram_attempts(clip):
        data = _webm(attempt, crf)
        last = len(data)
        if last <= TELEGRAM_MAX_BYTES:
            check_telegram_webm(data)
            return data
    raise AnimationEncodingFailed("The video sticker could not be made small enough.", detail=f"{last} bytes")


# --------------------------------------------------------------------------- GIF / WebP / APNG
def _duration_ms(clip: Clip) -> int:
    return max(20, round(1000 / clip.fps))  # browsers treat < 20 ms as 100 ms


def _gif_frame(image: Image.Image) -> Image.Image:
    """One GIF frame: 255 colours plus index 255 for transparency (GIF alpha is 1 bit)."""
    rgba = np.asarray(image.convert("RGBA"))
    solid = rgba[..., 3] >= 128
    p = image.convert("RGB").quantize(255, method=Image.Quantize.FASTOCTREE)
    indices = np.asarray(p).copy()
    indices[~solid] = 255
    out = Image.fromarray(indices, "P")
    palette = (p.getpalette() or [])[: 255 * 3]
    out.putpalette(palette + [0] * (768 - len(palette)))
    out.info["transparency"] = 255
    return out


def encode_gif(clip: Clip) -> bytes:
    frames = [_gif_frame(f) for f in clip.frames]
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=_duration_ms(clip),
        loop=0,
        disposal=2,
        transparency=255,
        optimize=False,
    )
    return buffer.getvalue()


def encode_webp(clip: Clip, *, quality: int = 80) -> bytes:
    buffer = io.BytesIO()
    frames = [f.convert("RGBA") for f in clip.frames]
    frames[0].save(
        buffer,
        "WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=_duration_ms(clip),
        loop=0,
        quality=quality,
        alpha_quality=100,
        method=0,
        allow_mixed=False,
    )
    return buffer.getvalue()


def encode_apng(clip: Clip, *, palette: bool = False) -> bytes:
    """APNG; with `palette`, one shared 256-colour palette with alpha (much smaller)."""
    frames = [f.convert("RGBA") for f in clip.frames]
    if palette:
        sheet = Image.new("RGBA", (frames[0].width, frames[0].height * len(frames)))
        for i, frame in enumerate(frames):
            sheet.paste(frame, (0, i * frame.height))
        shared = sheet.quantize(256, method=Image.Quantize.FASTOCTREE)  # keeps alpha in the palette
        h = frames[0].height
        frames = [shared.crop((0, i * h, shared.width, (i + 1) * h)) for i in range(len(frames))]
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        "PNG",
        save_all=True,
        append_images=frames[1:],
        duration=_duration_ms(clip),
        loop=0,
        disposal=0,  # keep; with blend 0 (source) each changed box replaces colour and alpha alike
        blend=0,
    )
    return buffer.getvalue()


def decode_image_frames(data: bytes, fmt: str) -> tuple[list[np.ndarray], float]:
    """Decode an animated GIF/WebP/APNG with Pillow: RGBA frames and the mean frame time in ms."""
    pillow_format = {"gif": "GIF", "webp": "WEBP", "apng": "PNG"}[fmt]
    frames, durations = [], []
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
            for i in range(getattr(image, "n_frames", 1)):
                image.seek(i)
                frames.append(np.asarray(image.convert("RGBA")))
                durations.append(float(image.info.get("duration", 0) or 0))
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise AnimationEncodingFailed("The animation could not be read back.") from exc
    return frames, float(np.mean(durations)) if durations else 0.0


def _check_animated(data: bytes, fmt: str) -> list[np.ndarray]:
    frames, _ = decode_image_frames(data, fmt)
    if len(frames) < 2:
        raise AnimationEncodingFailed("The animation came out with one frame.")
    if not any((f[..., 3] < 16).any() for f in frames) or not any((f[..., 3] > 240).any() for f in frames):
        raise AnimationEncodingFailed("The animation lost its transparency.")
    return frames


def discord_server_sticker_animated(clip: Clip, fmt: str = "apng") -> bytes:
    """A Discord server sticker: APNG or GIF, 320x320, at most 512 KiB and 5 s (fps/palette step down)."""
    if fmt not in ("apng", "gif"):
        raise ValueError("Discord server stickers are APNG or GIF.")
    if clip.duration_s > DISCORD_STICKER_MAX_S:
        raise AnimationEncodingFailed("Discord stickers can last at most 5 seconds.")
    small = _fit_square(clip, DISCORD_STICKER_SIDE)
    attempts = [(small, False), (small, True), (_retime(small, 12), True), (_retime(small, 8), True)]
    size = 0
    for attempt, palette in attempts:
        data = encode_gif(attempt) if fmt == "gif" else encode_apng(attempt, palette=palette)
        size = len(data)
        if size <= DISCORD_STICKER_MAX_BYTES:
            frames = _check_animated(data, fmt)
            if frames[0].shape[:2] != (DISCORD_STICKER_SIDE, DISCORD_STICKER_SIDE):
                raise AnimationEncodingFailed("The Discord sticker has the wrong size.")
            return data
    raise AnimationEncodingFailed(
        "The Discord sticker could not be made small enough.", detail=f"{size} bytes"
    )


def encode_clip(clip: Clip, fmt: str) -> bytes:
    """Encode a clip as `fmt` (webm | gif | webp | apng) and check it by decoding."""
    if fmt == "webm":
        return encode_telegram_webm(clip)
    if fmt == "gif":
        data = encode_gif(clip)
    elif fmt == "webp":
        data = encode_webp(clip)
    elif fmt == "apng":
        data = encode_apng(clip)
    else:
        raise ValueError(f"Unknown animation format '{fmt}'. Formats: {', '.join(FORMATS)}.")
    _check_animated(data, fmt)
    return data


def format_for_path(name: str) -> str:
    """The animation format from an output file name's suffix."""
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if suffix not in SUFFIXES:
        raise ValueError(f"output file {name} should end in .webm, .gif, .webp or .png")
    return SUFFIXES[suffix]
