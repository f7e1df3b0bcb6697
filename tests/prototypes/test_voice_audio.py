"""Pure Voice, audio in: a WAV said on a call becomes text offline (pocketsphinx, the `[voice]` extra) and goes on
like a typed line."""

from __future__ import annotations

import base64

import httpx
import pytest

from server.sensay.local import ADA_LOVELACE_UUID

from ..conftest import bearer
from ..utils import connect
from .support import act, collect_events, ok, problem
from .voice_audio import SPOKEN_TEXT, spoken_wav
from .voice_audio import wav_base64 as _wav

pytest.importorskip("pocketsphinx", reason="audio to text needs the [voice] extra (pip install 'sensay-hub[voice]')")

ID = "pure-voice"


async def test_spoken_audio_becomes_the_line_the_replica_answers(
    server: str, http: httpx.AsyncClient, alice: dict
) -> None:
    """The recognised words are the user's line (streamed, stored with source `audio`), and the replica answers
    them."""
    call_id = (await ok(http, alice, ID, "start_call", replica_id=ADA_LOVELACE_UUID))["call"]["id"]
    async with connect(server, alice["access_token"]) as tab:
        said = await ok(http, alice, ID, "say_audio", call_id=call_id, audio=spoken_wav())
        assert said["text"] == SPOKEN_TEXT
        assert f'You wrote: "{SPOKEN_TEXT}"' in said["reply"]
        lines = await collect_events(tab, ID, "transcript", lambda d: d["speaker"] == "replica" and d["final"])
        assert lines[0] == {"call_id": call_id, "speaker": "user", "text": SPOKEN_TEXT, "final": True}
    transcript = (await http.get(f"/api/voice/calls/{call_id}/transcript", headers=bearer(alice))).json()
    assert [(line["speaker"], line["source"], line["text"]) for line in transcript["lines"]] == [
        ("user", "audio", SPOKEN_TEXT),
        ("replica", "replica", said["reply"]),
    ]


async def test_audio_that_is_no_speech_or_no_usable_wav_is_refused(http: httpx.AsyncClient, alice: dict) -> None:
    """Silence, stereo, another sample rate, or bytes that are no WAV: 422 `speech_not_recognized`, nothing is
    stored; base64 that does not decode: 422 `validation_error`; an ended call: 409 before any decoding."""
    call_id = (await ok(http, alice, ID, "start_call", replica_id=ADA_LOVELACE_UUID))["call"]["id"]
    for audio, detail in [
        (_wav(bytes(32000)), "no words were recognised"),
        (_wav(bytes(32000), channels=2), "16-bit mono"),
        (_wav(bytes(32000), rate=8000), "16000 Hz"),
        (base64.b64encode(b"not a wav at all").decode(), "not a WAV file"),
    ]:
        refused = problem(
            await act(http, alice, ID, "say_audio", call_id=call_id, audio=audio), 422, "speech_not_recognized"
        )
        assert detail in refused["detail"]
    problem(await act(http, alice, ID, "say_audio", call_id=call_id, audio="%%%"), 422, "validation_error")
    transcript = (await http.get(f"/api/voice/calls/{call_id}/transcript", headers=bearer(alice))).json()
    assert transcript["lines"] == []
    await ok(http, alice, ID, "stop_call", call_id=call_id)
    problem(await act(http, alice, ID, "say_audio", call_id=call_id, audio=spoken_wav()), 409, "call_ended")
