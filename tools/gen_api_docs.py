"""Write docs/api.md from the method table (``--check``: exit 1 when it is out of date)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from camsvc.rpc.apidocs import render  # noqa: E402
from camsvc.rpc.catalog import load_table  # noqa: E402

TARGET = REPO / "docs" / "api.md"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when docs/api.md is stale")
    args = p.parse_args()
    text = render(load_table())
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print("docs/api.md is out of date; run: python tools/gen_api_docs.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
