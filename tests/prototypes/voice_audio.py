"""Audio for the Pure Voice tests: pocketsphinx's own recording of "go forward ten meters" as a WAV."""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path

SPOKEN_TEXT = "go forward ten meters"
SPOKEN = Path(__file__).parent / "data" / "goforward.raw"  # 16 kHz 16-bit mono PCM (see data/README.md)


def wav_base64(frames: bytes, *, rate: int = 16000, channels: int = 1) -> str:
    """Base64 of a 16-bit WAV file holding ``frames``."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return base64.b64encode(out.getvalue()).decode()


def spoken_wav() -> str:
    """Base64 of a WAV of someone saying SPOKEN_TEXT."""
    return wav_base64(SPOKEN.read_bytes())
