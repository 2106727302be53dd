"""Where the shared webhook deliveries are: ``shared/`` beside the checkout."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAYLOADS = ROOT.parent / "shared" / "payloads"
