"""`stickerbot styles list` / `stickerbot styles show NAME`: the installed styles, no model needed."""

from __future__ import annotations

import argparse
import sys

from bot.config import load_config
from generator.styles import StyleRegistry, StyleSpec


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `styles list` and `styles show` to the `styles` command group."""
    listing = subparsers.add_parser("list", help="list the installed styles")
    _add_source_options(listing)
    listing.set_defaults(func=_run_list)

    show = subparsers.add_parser("show", help="show one style's settings")
    show.add_argument("name", metavar="NAME", help="style name, as shown by `styles list`")
    _add_source_options(show)
    show.set_defaults(func=_run_show)


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="config file (its engine.styles_dir is used)")
    parser.add_argument(
        "--styles-dir", metavar="DIR", help="read styles from DIR instead of engine.styles_dir"
    )


def _registry(args: argparse.Namespace) -> StyleRegistry:
    directory = args.styles_dir or load_config(args.config).engine.styles_dir
    return StyleRegistry.load(directory)


def _report_broken(registry: StyleRegistry) -> None:
    for message in registry.errors.values():
        print(f"warning: {message} (style skipped)", file=sys.stderr)


def _run_list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    _report_broken(registry)
    if not len(registry):
        print("No styles installed.")
        return 0
    width = max(len(name) for name in registry.names())
    for name in registry.names():
        spec = registry.get(name)
        loras = f"  [{len(spec.loras)} LoRA{'s' if len(spec.loras) != 1 else ''}]" if spec.loras else ""
        problem = lora_problem(spec)
        mark = f"  (unavailable: {problem})" if problem else ""
        print(f"{name:<{width}}  {spec.description}{loras}{mark}")
    return 0


def lora_problem(spec: StyleSpec) -> str | None:
    """Why the style cannot run, as far as the files tell without the model (a local LoRA that is missing);
    LoRAs that fail to load later (bad tensors, wrong model) are logged by `run` and refused per style."""
    for ref in spec.loras:
        if ref.local_path is not None and not ref.local_path.is_file():
            return f"LoRA file {ref.source} not found"
    return None


def _run_show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    _report_broken(registry)
    spec = registry.get(args.name)  # UnknownStyle → one clear line from the CLI's error handler
    print(format_style(spec))
    return 0


def format_style(spec: StyleSpec) -> str:
    """A style's settings as aligned `key: value` lines."""
    rows = [
        ("name", spec.name),
        ("description", spec.description),
        ("trigger", spec.trigger or "(none)"),
        ("template", spec.template),
        ("subject", spec.subject),
        ("example", spec.build_prompt("happy")),
        ("negative prompt", spec.negative_prompt or "(none)"),
        ("background", f"{spec.background_name} {spec.background}"),
        ("steps", str(spec.steps)),
        ("outline", "on" if spec.outline else "off"),
        ("matting", spec.matting or "(engine default)"),
    ]
    if not spec.loras:
        rows.append(("loras", "(none: prompt only)"))
    for index, ref in enumerate(spec.loras):
        rows.append((f"lora {index + 1}", f"{ref.label} (scale {ref.scale:g})"))
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key + ':':<{width + 1}} {value}" for key, value in rows)
