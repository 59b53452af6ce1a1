"""The style studio: train a style LoRA, teach a subject, fuse styles, render preview sheets.

Modules: `data` (image folder checks and captions), `objective` (SDXL noise-prediction loss),
`lora_train` (peft LoRA trainer with checkpoints), `style_training` (`styles train`), `teach`
(`styles teach`, DreamBooth-style), `fuse` (`styles fuse`), `preview` (contact sheets),
`export` (LoRA files and style YAML), `lora_io` (reading any LoRA format), `paths` (safe names).
Importing this package does not import torch; its modules do.
"""
