"""`stickerbot dev cluster`: the multi-process layout on one machine (Redis, PostgreSQL, two bots)."""
