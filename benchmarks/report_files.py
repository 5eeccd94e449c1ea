"""Where a benchmark script's report goes: <out>/<date>_<topic>.json and .md, printed too."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path


def write_report(out: Path, topic: str, report: dict, text: str) -> Path:
    """Write ``report`` as JSON and ``text`` (its markdown) beside it; return the common stem."""
    stem = out / f"{dt.datetime.now():%Y-%m-%d-%H%M}_{topic}"
    out.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    Path(f"{stem}.md").write_text(text)
    print(text)
    return stem
