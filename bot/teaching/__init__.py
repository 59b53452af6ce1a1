"""Teaching the bot a user's own subject from photos in the chat (issue 19, docs/using/teach.md).

Platform-neutral: adapters hand over photos and a name, and show the progress and the result.
`TeachService` (service.py) checks input (photos.py, names.py), stores jobs durably (store.py),
runs them through a fair, bounded queue (queue.py) in a training subprocess (runner.py), and
resolves "my dog" in prompts to the taught subject (subjects.py).
"""

from bot.teaching.errors import TeachError
from bot.teaching.photos import Photo
from bot.teaching.service import Teacher, TeachProgress, TeachService

__all__ = ["Photo", "TeachError", "TeachProgress", "TeachService", "Teacher"]
