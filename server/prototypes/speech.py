"""Audio in becomes text, offline, with pocketsphinx (the optional ``[voice]`` extra; its wheel ships an English
model). Without it, audio answers ``speech_unavailable``.

Decoding is CPU-bound (about real time) and one decoder is not thread-safe: it runs on one worker thread of its
own, one utterance at a time, so the event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import io
import wave
from concurrent.futures import ThreadPoolExecutor
from importlib.util import find_spec
from typing import Any, Final

from ..errors import SpeechNotRecognized, SpeechUnavailable

SAMPLE_RATE: Final = 16000
MAX_AUDIO_SECONDS: Final = 30
"""Longest audio one line may carry."""


def available() -> bool:
    """Whether pocketsphinx is installed."""
    return find_spec("pocketsphinx") is not None


class Recognizer:
    """Turns 16-bit mono PCM WAV (16 kHz) into text; the decoder (its model loads in a second) is made on first use."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="speech")
        self._decoder: Any = None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def transcribe(self, audio: bytes) -> str:
        """The words said in ``audio``; :class:`SpeechNotRecognized` for audio that is not 16-bit mono PCM WAV or
        holds no words, :class:`SpeechUnavailable` without pocketsphinx."""
        if not available():
            raise SpeechUnavailable("audio cannot become text here: install sensay-hub[voice] (pocketsphinx)")
        frames = _pcm(audio)
        text = await asyncio.get_running_loop().run_in_executor(self._executor, self._decode, frames)
        if not text:
            raise SpeechNotRecognized("no words were recognised in the audio")
        return text

    def _decode(self, frames: bytes) -> str:
        from pocketsphinx import Decoder, Vad  # the optional extra, imported on use

        # The decoder finds words even in silence: only audio with voice in it is decoded.
        vad = Vad(sample_rate=SAMPLE_RATE)
        size = vad.frame_bytes
        if not any(vad.is_speech(frames[i : i + size]) for i in range(0, len(frames) - size + 1, size)):
            return ""
        if self._decoder is None:
            self._decoder = Decoder(samprate=SAMPLE_RATE)
        decoder = self._decoder
        decoder.start_utt()
        decoder.process_raw(frames, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return str(hyp.hypstr).strip() if hyp is not None else ""


def _pcm(audio: bytes) -> bytes:
    """The frames of a WAV file, checked to be 16-bit mono PCM at 16 kHz, at most MAX_AUDIO_SECONDS long."""
    try:
        with wave.open(io.BytesIO(audio), "rb") as wav:
            channels, width, rate, count = wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()
            if channels != 1 or width != 2:
                raise SpeechNotRecognized(f"the audio must be 16-bit mono PCM WAV, not {channels} channel(s) of "
                                          f"{8 * width} bits")  # fmt: skip
            if rate != SAMPLE_RATE:  # the model's rate
                raise SpeechNotRecognized(f"the audio's sample rate must be {SAMPLE_RATE} Hz, not {rate}")
            if count > rate * MAX_AUDIO_SECONDS:
                raise SpeechNotRecognized(f"the audio is longer than {MAX_AUDIO_SECONDS} seconds")
            return wav.readframes(count)
    except (wave.Error, EOFError) as exc:
        raise SpeechNotRecognized(f"the audio is not a WAV file ({exc})") from None
