"""API keys: the signed-in user makes, sees and revokes her own keys (department mode)."""

from __future__ import annotations

from ui import keys_panel
from ui.state import context, load_key_store


def main() -> None:
    ctx = context()
    keys_panel.render(load_key_store(str(ctx.settings.data_dir)), ctx.identity, ctx.tr.lang)


main()
