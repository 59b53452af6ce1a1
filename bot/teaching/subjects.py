"""Using a taught subject in a sticker request: "my dog eating pizza" → the dog's LoRA on the style.

The reference is taken out of the words, the style's subject becomes the subject's token ("sks dog"),
and the plan carries the LoRA file, so the engine draws "style+subject" for this request only. The
text kept in the record still says "my dog", so a reroll finds the subject again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from bot.planning import Plan
from bot.teaching.names import Reference, token_for
from bot.types import StickerRequest
from generator.api import StyleSummary

EMPTY_WORDS = "happy"  # "/sticker my dog" alone: the subject, happy


@dataclass(frozen=True, slots=True)
class SubjectUse:
    reference: Reference
    said: str  # the reference as the user wrote it ("my dog")
    lora: str
    from_parent: bool

    @property
    def token(self) -> str:
        return token_for(self.reference.name)

    def request(self, request: StickerRequest) -> StickerRequest:
        if self.from_parent:
            return request
        rest = self.reference.without(request.text) or EMPTY_WORDS
        if rest.startswith(("style:", "seed:", "n:")):
            rest = f"{EMPTY_WORDS} {rest}"
        return dataclasses.replace(request, text=rest)

    def styles(self, styles: Sequence[StyleSummary]) -> list[StyleSummary]:
        return [dataclasses.replace(style, subject=self.token) for style in styles]

    def finish(self, plan: Plan) -> Plan:
        said_already = self.from_parent or self.said.lower() in plan.text.lower()  # a reroll's stored text
        text = plan.text if said_already else f"{self.said} {plan.text}".strip()
        return dataclasses.replace(plan, text=text, subject_lora=self.lora)
