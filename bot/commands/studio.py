"""`stickerbot styles train | teach | fuse | preview`: the style studio (see generator.training)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

STEP_HELP = "training steps in all (default %(default)s)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the studio actions to the `styles` subcommand's parser."""
    _register_train(subparsers)
    _register_teach(subparsers)
    _register_fuse(subparsers)
    _register_preview(subparsers)


# --------------------------------------------------------------------------- parsers
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="hub id or local directory of the base model (overrides model.path)")
    parser.add_argument("--config", help="config file (YAML); default: built-in defaults")
    parser.add_argument(
        "--styles-dir", help="where styles live and new ones are written (default engine.styles_dir)"
    )


def _format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lora-format",
        choices=("diffusers", "kohya"),
        default="diffusers",
        help="layout of the written LoRA file; both load in diffusers (default diffusers)",
    )


def _training_options(parser: argparse.ArgumentParser, steps: int, rank: int, lr: float) -> None:
    parser.add_argument(
        "--out", default="runs", help="run folder for checkpoints and the preview (default runs/)"
    )
    parser.add_argument("--steps", type=int, default=steps, help=STEP_HELP)
    parser.add_argument("--rank", type=int, default=rank, help="LoRA rank (default %(default)s)")
    parser.add_argument("--lr", type=float, default=lr, help="learning rate (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=1, help="images per step (default 1)")
    parser.add_argument("--resolution", type=int, default=512, help="training image size (default 512)")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random (default 0)")
    parser.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints")
    parser.add_argument(
        "--precision",
        choices=("auto", "no", "fp16", "bf16"),
        default="auto",
        help="mixed precision (auto: bf16/fp16 on CUDA, fp32 on a CPU)",
    )
    parser.add_argument(
        "--gradient-checkpointing",
        choices=("auto", "on", "off"),
        default="auto",
        help="trade compute for memory (auto: on with CUDA)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    _format_option(parser)
    parser.add_argument("--force", action="store_true", help="replace an existing style of that name")
    parser.add_argument("--no-preview", action="store_true", help="skip the preview sheet at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _register_train(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a style LoRA from a folder of sticker images",
        description="Train a LoRA on the UNet from sticker images (PNG/WebP/JPEG; captions from NAME.txt or "
        "the file name) and install it as a style: styles/NAME.yaml + styles/loras/NAME.safetensors.",
    )
    parser.add_argument("--images", required=True, help="folder of training images")
    parser.add_argument("--name", required=True, help="name of the new style (a-z, 0-9, '-', '_')")
    parser.add_argument("--subject", required=True, help="the character, e.g. otter")
    parser.add_argument("--trigger", default="dm-sticker", help="trigger word added to every caption")
    parser.add_argument("--background", default="white", help="flat background: white, green, ... or #rrggbb")
    parser.add_argument("--description", default="", help="one line shown in style menus")
    _training_options(parser, steps=500, rank=8, lr=1e-4)
    _common(parser)
    parser.set_defaults(func=_run_train)


def _register_teach(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "teach",
        help="teach one particular subject from 3-10 photos (DreamBooth-style LoRA)",
        description="Bind a rare identifier (default 'sks') to the subject in the photos, so 'sks cat' "
        "draws that cat. The result is a style whose subject is '<identifier> <class>'.",
    )
    parser.add_argument("--photos", required=True, help="folder of 3-10 photos of the subject")
    parser.add_argument("--name", required=True, help="name of the new style")
    parser.add_argument("--class", dest="class_noun", required=True, help="what it is, e.g. cat")
    parser.add_argument(
        "--identifier", default="sks", help="the rare token bound to the subject (default sks)"
    )
    parser.add_argument(
        "--prior-images",
        type=int,
        default=0,
        help="class images generated by the base model for prior preservation (default 0 = off)",
    )
    parser.add_argument(
        "--prior-weight", type=float, default=1.0, help="weight of the prior loss (default 1)"
    )
    _training_options(parser, steps=400, rank=8, lr=1e-4)
    _common(parser)
    parser.set_defaults(func=_run_teach)


def _register_fuse(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fuse",
        help="make a new style from other styles' LoRAs with weights",
        description="Fuse styles' LoRAs with weights (STYLE:WEIGHT) into a new style; --bake merges them "
        "into one LoRA file. The new style takes its settings from the first style.",
    )
    parser.add_argument("styles", nargs="+", metavar="STYLE[:WEIGHT]", help="e.g. otter:0.7 rabbit:0.5")
    parser.add_argument("--name", required=True, help="name of the new style")
    parser.add_argument("--subject", help="the new style's subject (default: the first style's)")
    parser.add_argument("--bake", action="store_true", help="write one merged LoRA file for the new style")
    _format_option(parser)
    parser.add_argument("--force", action="store_true", help="replace an existing style of that name")
    _common(parser)
    parser.set_defaults(func=_run_fuse)


def _register_preview(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preview",
        help="render a contact sheet of a style's character in eight expressions",
        description="Render happy, sad, eating, 'I love you', 'let's go', sleeping, angry and laughing "
        "in one labelled grid image.",
    )
    parser.add_argument("name", metavar="NAME", help="the style")
    parser.add_argument("-o", "--output", default=None, help="image file to write (default NAME-preview.png)")
    parser.add_argument("--size", type=int, default=512, help="generated image size (default 512)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    _common(parser)
    parser.set_defaults(func=_run_preview)


# --------------------------------------------------------------------------- helpers
def _config(args: argparse.Namespace) -> Any:
    from bot.config import AppConfig

    if args.config:
        from bot import config as config_module

        config = config_module.load_config(args.config)
    else:
        config = AppConfig()
    if args.model:
        config.model.path = args.model
    if args.styles_dir:
        config.engine.styles_dir = args.styles_dir
    config.model.warmup = False
    return config


def _settings(args: argparse.Namespace) -> Any:
    from generator.training.lora_train import TrainSettings

    return TrainSettings(
        steps=args.steps,
        rank=args.rank,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        precision=args.precision,
        gradient_checkpointing=args.gradient_checkpointing,
    )


def _run_options(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """The options `train` and `teach` share: resolution, training settings, output places, resume."""
    return {
        "resolution": args.resolution,
        "settings": _settings(args),
        "out_dir": Path(args.out),
        "styles_dir": Path(config.engine.styles_dir),
        "resume": args.resume,
        "overwrite": args.force,
        "lora_format": args.lora_format,
    }


def _write_preview(outcome: Any, config: Any, args: argparse.Namespace) -> Path | None:
    if args.no_preview:
        return None
    from generator.pipeline import StickerPipeline
    from generator.styles import StyleRegistry
    from generator.training.paths import inside
    from generator.training.preview import render_preview, save_sheet
    from generator.training.style_training import training_model_config

    spec = outcome.style
    model_cfg = training_model_config(config.model, args.precision)
    pipeline = StickerPipeline.from_pipeline(outcome.pipe, StyleRegistry([spec]), model_cfg)
    sheet = render_preview(pipeline, spec, size=args.resolution, seed=args.seed)
    return save_sheet(sheet, inside(args.out, spec.name, "preview.png"))


def _report(outcome: Any, preview: Path | None) -> None:
    spec = outcome.style
    result = outcome.result
    print(f"style {spec.name!r} written: {spec.file}")
    for ref in spec.loras:
        print(f"  LoRA: {ref.label}")
    print(
        f"  steps {result.start_step} -> {result.final_step}; checkpoints in {result.run_dir / 'checkpoints'}"
    )
    print(f"  loss on a fixed batch: {outcome.loss_before:.4f} -> {outcome.loss_after:.4f}")
    if preview is not None:
        print(f"  preview sheet: {preview}")


# --------------------------------------------------------------------------- actions
def _run_train(args: argparse.Namespace) -> int:
    from generator.training.style_training import StyleTrainJob, train_style

    config = _config(args)
    job = StyleTrainJob(
        name=args.name,
        images=Path(args.images),
        subject=args.subject,
        trigger=args.trigger,
        description=args.description,
        background=args.background,
        **_run_options(args, config),
    )
    outcome = train_style(job, config.model, progress=not args.quiet)
    _report(outcome, _write_preview(outcome, config, args))
    return 0


def _run_teach(args: argparse.Namespace) -> int:
    from generator.training.teach import TeachJob, teach_subject

    config = _config(args)
    job = TeachJob(
        name=args.name,
        photos=Path(args.photos),
        class_noun=args.class_noun,
        identifier=args.identifier,
        prior_images=args.prior_images,
        prior_weight=args.prior_weight,
        **_run_options(args, config),
    )
    outcome = teach_subject(job, config.model, progress=not args.quiet)
    _report(outcome, _write_preview(outcome, config, args))
    print(f"  use it as: /sticker sleeping {job.name}   (subject '{job.subject}')")
    return 0


def _run_fuse(args: argparse.Namespace) -> int:
    from generator.styles import StyleRegistry
    from generator.training.fuse import fuse_styles, parse_weighted

    config = _config(args)
    weighted = parse_weighted(args.styles)
    registry = StyleRegistry.load(config.engine.styles_dir)
    spec = fuse_styles(
        registry,
        weighted,
        name=args.name,
        styles_dir=config.engine.styles_dir,
        model_path=config.model.path,
        subject=args.subject,
        bake=args.bake,
        overwrite=args.force,
        lora_format=args.lora_format,
    )
    print(f"style {spec.name!r} written: {spec.file}")
    for ref in spec.loras:
        print(f"  LoRA: {ref.label}  scale {ref.scale:g}")
    return 0


def _run_preview(args: argparse.Namespace) -> int:
    from generator.pipeline import StickerPipeline
    from generator.styles import StyleRegistry
    from generator.training.errors import StudioError
    from generator.training.paths import validate_name
    from generator.training.preview import render_preview, save_sheet

    config = _config(args)
    name = validate_name(args.name)
    if not 64 <= args.size <= 1024 or args.size % 8:
        raise StudioError("--size must be a multiple of 8 from 64 to 1024.")
    spec = StyleRegistry.load(config.engine.styles_dir).get(name)
    pipeline = StickerPipeline.load(config.model, StyleRegistry([spec]), hot_styles=0)
    sheet = render_preview(pipeline, spec, size=args.size, seed=args.seed)
    target = save_sheet(sheet, args.output or f"{name}-preview.png")
    print(f"preview sheet written: {target} ({sheet.width}x{sheet.height})")
    return 0
