"""``uao cache``: list the exports kept in the cache folder, or remove them."""
from __future__ import annotations

import click


@click.command("cache")
@click.option("--clear", is_flag=True, help="Remove every cache entry (they are rebuilt on first use).")
def command(clear):
    """List the cached exports (folder, size, what they hold), or remove them all with --clear.

    Only folders uao made (each holds a marker) are listed as entries and removed; anything else in
    the cache folder is left alone, and no link is followed."""
    from ..export.cache import cache_dir, cache_entries, clear_cache

    root = cache_dir() / "export"
    if clear:
        removed, freed, foreign = clear_cache()
        click.echo(f"removed {removed} cache entries ({freed / 1e6:.1f} MB) from {root}"
                   + (f"; left alone {len(foreign)} items uao did not make" if foreign else ""))
        return
    entries, foreign = cache_entries()
    for entry in entries:
        click.echo(f"{entry['folder']}  {entry['bytes'] / 1e6:7.1f} MB  {entry['age_days']:5.1f} days  {entry['holds']}")
    for path in foreign:
        click.echo(f"{path}  (not made by uao: left alone)")
    total = sum(entry["bytes"] for entry in entries)
    click.echo(f"{len(entries)} entries, {total / 1e6:.1f} MB in {root} (`uao cache --clear` removes them)")
