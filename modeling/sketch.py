"""The sketch generator: a procedural music generator beside MusicGen, for pilots and demos.

It reads tempo, mode and instruments off a caption's words (:func:`sketch_parameters`) and plays
a chord progression, a bass line, a melody and a drum pattern with small additive/FM
synthesisers. No model weights, no network. Deterministic: the same caption and seed give the
same music. MusicGen (``modeling.musicgen``) is the real generator.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.signal import fftconvolve

__all__ = [
    "SKETCH_GENERATOR_ID",
    "SKETCH_VERSION",
    "caption_words",
    "sketch_generate",
    "sketch_parameters",
    "stable_seed",
]

SKETCH_GENERATOR_ID = "sketch"
SKETCH_VERSION = "1"


_SLOW_WORDS = frozenset(
    "slow slowly calm calming relaxing relaxed relax gentle gently peaceful soft softly quiet "
    "tranquil serene ambient dreamy meditative ballad lullaby sleepy soothing floating "
    "unhurried still stillness contemplative reflective introspective tender mellow drifting "
    "sparse hesitant weightless lonely".split()
)
_FAST_WORDS = frozenset(
    "fast upbeat energetic dance lively driving exciting excitement intense pumping "
    "party celebration festive race racing action chase powerful rock techno edm pop "
    "pounding relentless thrilling rushing euphoric exuberant bouncy hyperspace "
    "sprint sprinter four-on-the-floor motivating fast-paced".split()
)
_MEDIUM_WORDS = frozenset("moderate mid-tempo steady walking groove groovy waltz nostalgic".split())
_MINOR_WORDS = frozenset(
    "sad sadness melancholic melancholy dark tense tension suspense suspenseful mysterious "
    "somber sombre gloomy eerie ominous lonely sorrowful haunting dramatic heartbreak "
    "heartbroken brooding danger dangerous scary angry bittersweet loss lost moody storm rain "
    "night introspective cyberpunk".split()
)
_MAJOR_WORDS = frozenset(
    "happy happiness bright joyful joy uplifting cheerful playful festive triumphant hopeful "
    "sunny warm celebration fun carefree euphoric romantic magical cosy cozy whimsical "
    "exuberant hope sunrise spring tender inspiring majestic butterflies flowers".split()
)
_INSTRUMENT_WORDS: dict[str, frozenset[str]] = {
    "piano": frozenset("piano pianos keys keyboard jazz ballad".split()),
    "strings": frozenset(
        (
            "strings string violin violins cello cellos viola orchestra orchestral cinematic "
            "symphonic "
            "pizzicato score"
        ).split()
    ),
    "synth": frozenset(
        (
            "synth synths synthesizer synthesizers electronic edm techno synthwave futuristic "
            "cyberpunk arpeggio arpeggios organ organ-like"
        ).split()
    ),
    "guitar": frozenset("guitar guitars acoustic folk strumming fingerpicked riff".split()),
    "drums": frozenset(
        "drum drums percussion beat beats kick handclaps snare four-on-the-floor".split()
    ),
    "bass": frozenset("bass bassline basslines".split()),
    "bells": frozenset(
        "bell bells chimes glockenspiel celesta twinkling sparkle sparkling".split()
    ),
    "pad": frozenset("pad pads ambient atmospheric ethereal drone shimmering".split()),
    "flute": frozenset("flute flutes woodwind woodwinds whistle".split()),
    "brass": frozenset("brass trumpet trumpets horns horn fanfare fanfares".split()),
}
_MELODY_ORDER = ("flute", "bells", "piano", "synth", "guitar", "brass", "strings")
_CHORD_ORDER = ("strings", "pad", "piano", "guitar", "synth", "brass")
_NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# Chord progressions as scale degrees (0 = the tonic triad).
_PROGRESSIONS = {
    "major": (
        ((0, 4, 5, 3), "I-V-vi-IV"),
        ((0, 3, 4, 4), "I-IV-V-V"),
        ((0, 5, 3, 4), "I-vi-IV-V"),
        ((3, 4, 0, 0), "IV-V-I-I"),
    ),
    "minor": (
        ((0, 5, 2, 6), "i-VI-III-VII"),
        ((0, 3, 4, 0), "i-iv-v-i"),
        ((0, 6, 5, 6), "i-VII-VI-VII"),
        ((0, 5, 3, 4), "i-VI-iv-v"),
    ),
}
_TEMPO_RANGES = {"low": (60, 80), "medium": (90, 110), "high": (120, 140)}


def caption_words(text: str) -> list[str]:
    words = re.findall(r"[a-z]+(?:-[a-z]+)*", text.casefold())
    return words + [part for w in words if "-" in w for part in w.split("-")]


def _normalise_caption(caption: str) -> str:
    return " ".join(caption.split())


def stable_seed(*parts: object) -> int:
    digest = hashlib.blake2b(
        "\x00".join(str(p) for p in parts).encode("utf-8"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")


def sketch_parameters(caption: str) -> dict[str, Any]:
    """What the caption's words choose for the sketch generator: ``tempo_bpm``, ``energy``
    (low/medium/high), ``mode`` (major/minor), ``key`` (e.g. "D minor"), ``instruments``,
    ``progression`` and the words that decided each. JSON-serialisable, so a track can store
    it as its provenance parameters. Depends on the caption only, never on the seed.

    The rules are plain word lists: slow/calm/relaxing words give 60-80 bpm, upbeat/energetic/
    fast/dance words 120-140 bpm, otherwise 90-110; sad/dark/tense words give a minor key,
    happy/bright words a major one; instrument names (and genre words such as "orchestral" or
    "electronic") pick the instruments. Negation ("not sad") is not understood.
    """
    text = _normalise_caption(caption)
    words = caption_words(text)
    bag = set(words)
    key_seed = stable_seed("sketch-key", text.casefold())

    slow = sorted(bag & _SLOW_WORDS)
    fast = sorted(bag & _FAST_WORDS)
    medium = sorted(bag & _MEDIUM_WORDS)
    n_slow = sum(w in _SLOW_WORDS for w in words)
    n_fast = sum(w in _FAST_WORDS for w in words)
    if n_fast > n_slow:
        energy = "high"
    elif n_slow > n_fast:
        energy = "low"
    else:
        energy = "medium"
    lo, hi = _TEMPO_RANGES[energy]
    tempo = lo + key_seed % (hi - lo + 1)

    minor_words = sorted(bag & _MINOR_WORDS)
    major_words = sorted(bag & _MAJOR_WORDS)
    n_minor = sum(w in _MINOR_WORDS for w in words)
    n_major = sum(w in _MAJOR_WORDS for w in words)
    if n_minor != n_major:
        mode = "minor" if n_minor > n_major else "major"
    else:
        mode = "major" if (key_seed >> 8) % 3 else "minor"  # no mood words: mostly major

    chosen: dict[str, list[str]] = {}
    for instrument, names in _INSTRUMENT_WORDS.items():
        hits = sorted(bag & names)
        if hits:
            chosen[instrument] = hits
    instruments = [i for i in _INSTRUMENT_WORDS if i in chosen]

    def add(instrument: str) -> None:
        if instrument not in instruments:
            instruments.append(instrument)

    # Fill the roles the words left open: a melody, a chord instrument, and for livelier
    # music a rhythm section.
    if _melody_of(instruments) is None:
        defaults = {
            "low": ("piano", "piano", "flute"),
            "medium": ("guitar", "piano", "flute", "bells"),
            "high": ("synth",),
        }[energy]
        add(defaults[(key_seed >> 32) % len(defaults)])
    if _chords_of(instruments) == _melody_of(instruments):
        options = {
            "low": ("strings", "pad"),
            "medium": ("piano", "guitar"),
            "high": ("synth", "piano"),
        }
        add(next(o for o in options[energy] if o != _melody_of(instruments)))
    if energy == "high":
        add("drums")
    if energy != "low":
        add("bass")

    tonic = (key_seed >> 16) % 12
    progression, progression_name = _PROGRESSIONS[mode][(key_seed >> 24) % 4]
    return {
        "generator": SKETCH_GENERATOR_ID,
        "version": SKETCH_VERSION,
        "tempo_bpm": int(tempo),
        "energy": energy,
        "mode": mode,
        "key": f"{_NOTE_NAMES[tonic]} {mode}",
        "tonic_pitch_class": int(tonic),
        "instruments": instruments,
        "melody": _melody_of(instruments),
        "chords": _chords_of(instruments),
        "progression": progression_name,
        "progression_degrees": list(progression),
        "matched_words": {
            "slow": slow,
            "fast": fast,
            "medium": medium,
            "minor": minor_words,
            "major": major_words,
            **{f"instrument:{k}": v for k, v in chosen.items()},
        },
    }


def _melody_of(instruments: list[str]) -> str | None:
    return next((i for i in _MELODY_ORDER if i in instruments), None)


def _chords_of(instruments: list[str]) -> str | None:
    melody = _melody_of(instruments)
    return next((i for i in _CHORD_ORDER if i in instruments and i != melody), melody)


def sketch_generate(
    caption: str, *, duration_s: float = 10.0, sample_rate: int = 32000, seed: int = 0
) -> np.ndarray:
    """Turn ``caption`` into ``round(duration_s * sample_rate)`` samples of music: float32 mono
    in [-1, 1] (peak at -1 dBFS). Deterministic for ``(caption, seed)``; the seed changes the
    melody, voicing and fills, the caption everything (see :func:`sketch_parameters`)."""
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    if sample_rate < 8000:
        raise ValueError("sample_rate must be at least 8000 Hz")
    params = sketch_parameters(caption)
    rng = np.random.default_rng(stable_seed("sketch", _normalise_caption(caption).casefold(), seed))
    n = int(round(duration_s * sample_rate))
    tail = int(2.5 * sample_rate)  # room for notes that ring past the end
    song = _Song(params, sample_rate, n + tail, rng)
    mix = song.render()[:n]

    wet = {"low": 0.35, "medium": 0.2, "high": 0.12}[params["energy"]]
    mix = mix + wet * _reverb(mix, sample_rate, rng)
    fade_in, fade_out = int(0.01 * sample_rate), min(n // 4, int(0.5 * sample_rate))
    mix[:fade_in] *= np.linspace(0.0, 1.0, fade_in)
    if fade_out:
        mix[-fade_out:] *= np.linspace(1.0, 0.0, fade_out) ** 2
    peak = float(np.max(np.abs(mix)))
    if peak > 0:
        mix *= 0.891 / peak  # -1 dBFS
    return mix.astype(np.float32)


def _midi_hz(note: float) -> float:
    return 440.0 * math.pow(2.0, (note - 69) / 12.0)


def _reverb(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    length = int(1.2 * sr)
    t = np.arange(length) / sr
    ir = rng.standard_normal(length) * np.exp(-t / 0.35) * 0.04
    ir[: int(0.015 * sr)] = 0.0  # pre-delay
    wet: np.ndarray = fftconvolve(x, ir)[: len(x)]
    return wet


class _Song:
    """Renders a sketch: chords, bass, melody and drums on a bar grid."""

    def __init__(self, params: dict[str, Any], sr: int, n: int, rng: np.random.Generator):
        self.p, self.sr, self.n, self.rng = params, sr, n, rng
        self.out = np.zeros(n, np.float64)
        self.beat = 60.0 / params["tempo_bpm"]
        self.scale = _SCALES[params["mode"]]
        self.tonic: int = 48 + params["tonic_pitch_class"]  # around C3

    # -- notes ------------------------------------------------------------------------------
    def degree(self, d: int, octave: int = 0) -> int:
        return self.tonic + 12 * (octave + d // 7) + self.scale[d % 7]

    def triad(self, root_degree: int, octave: int = 0) -> list[int]:
        return [self.degree(root_degree + k, octave) for k in (0, 2, 4)]

    def add(self, start_s: float, signal: np.ndarray, gain: float) -> None:
        i = int(start_s * self.sr)
        if i >= self.n or len(signal) == 0:
            return
        j = min(self.n, i + len(signal))
        self.out[i:j] += gain * signal[: j - i]

    # -- arrangement ------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        p = self.p
        bars = int(math.ceil(self.n / self.sr / (4 * self.beat)))
        progression = p["progression_degrees"]
        melody_inst, chord_inst = p["melody"], p["chords"]
        energy = p["energy"]
        for bar in range(bars):
            t_bar = bar * 4 * self.beat
            root = progression[bar % len(progression)]
            self.chords(chord_inst, root, t_bar, energy)
            if "pad" in p["instruments"] and chord_inst != "pad":
                self.sustain("pad", self.triad(root, 1), t_bar, 4 * self.beat, 0.10)
            if (
                "strings" in p["instruments"]
                and chord_inst not in ("strings",)
                and melody_inst != "strings"
            ):
                self.sustain("strings", self.triad(root, 1), t_bar, 4 * self.beat, 0.08)
            if "bass" in p["instruments"]:
                self.bass(root, t_bar, energy)
            if "drums" in p["instruments"]:
                self.drums(t_bar, energy, bar)
            if melody_inst is not None:
                self.melody(melody_inst, root, t_bar, energy)
            if "bells" in p["instruments"] and melody_inst != "bells":
                self.bells_sparkle(root, t_bar)
        return self.out.astype(np.float32)

    def chords(self, inst: str, root: int, t_bar: float, energy: str) -> None:
        notes = self.triad(root, 1)
        bar = 4 * self.beat
        k: float  # a position in beats
        if inst in ("strings", "pad", "brass"):
            self.sustain(inst, notes, t_bar, bar, 0.12)
        elif inst == "piano":
            if energy == "low":  # broken chord in eighths
                pattern = notes + [notes[1] + 12, notes[2], notes[1], notes[0] + 12, notes[2]]
                for k, note in enumerate(pattern[:8]):
                    self.add(
                        t_bar + k * self.beat / 2,
                        _instrument("piano", note, 1.6 * self.beat, self.sr),
                        0.10,
                    )
            else:
                for k in (0, 2) if energy == "medium" else (0, 1.5, 2, 3.5):
                    for note in notes:
                        self.add(
                            t_bar + k * self.beat,
                            _instrument("piano", note, self.beat, self.sr),
                            0.08,
                        )
        elif inst == "guitar":
            strums = (0, 1, 2, 3) if energy != "low" else (0, 2)
            for k in strums:
                for j, note in enumerate(notes + [notes[0] + 12]):
                    self.add(
                        t_bar + k * self.beat + j * 0.012,
                        _instrument("guitar", note, 1.5 * self.beat, self.sr),
                        0.09,
                    )
        else:  # synth: pulses on eighths for high energy, offbeat stabs otherwise
            steps = [k / 2 for k in range(8)] if energy == "high" else [0.5, 1.5, 2.5, 3.5]
            for k in steps:
                for note in notes:
                    self.add(
                        t_bar + k * self.beat,
                        _instrument("synth", note, 0.4 * self.beat, self.sr),
                        0.07,
                    )

    def sustain(
        self, inst: str, notes: list[int], start: float, length: float, gain: float
    ) -> None:
        for note in notes:
            self.add(start, _instrument(inst, note, length, self.sr), gain)

    def bass(self, root: int, t_bar: float, energy: str) -> None:
        note = self.degree(root, -1)
        steps: list[float]
        if energy == "high":
            steps, length = [k / 2 for k in range(8)], 0.45 * self.beat
        else:
            steps, length = [0, 2, 2.5] if energy == "medium" else [0, 2], 0.9 * self.beat
        for k in steps:
            octave = 12 if energy == "high" and int(k * 2) % 4 == 3 else 0
            self.add(
                t_bar + k * self.beat, _instrument("bass", note + octave, length, self.sr), 0.22
            )

    def drums(self, t_bar: float, energy: str, bar: int) -> None:
        b = self.beat
        kicks: tuple[float, ...]
        snares: tuple[float, ...]
        hats: list[float]
        if energy == "high":
            kicks, snares, hats = (0, 1, 2, 3), (1, 3), [k / 2 for k in range(8)]
        elif energy == "medium":
            kicks, snares, hats = (0, 2.5), (1, 3), [0, 1, 2, 3]
        else:
            kicks, snares, hats = (0,), (2,), []
        for k in kicks:
            self.add(t_bar + k * b, _drum("kick", self.sr), 0.5)
        for k in snares:
            self.add(t_bar + k * b, _drum("snare", self.sr, int(self.rng.integers(1 << 30))), 0.25)
        for k in hats:
            self.add(
                t_bar + k * b,
                _drum("hat", self.sr, int(self.rng.integers(1 << 30))),
                0.12 if k % 1 == 0 else 0.08,
            )
        if energy != "low" and bar % 4 == 3:  # a fill at the end of every fourth bar
            for k in (3.25, 3.5, 3.75):
                self.add(
                    t_bar + k * b, _drum("snare", self.sr, int(self.rng.integers(1 << 30))), 0.18
                )

    def melody(self, inst: str, root: int, t_bar: float, energy: str) -> None:
        rng = self.rng
        step = {"low": 1.0, "medium": 0.5, "high": 0.5}[energy]
        choices = {
            "low": (1.0, 2.0, 1.0, 0.5),
            "medium": (0.5, 1.0, 0.5, 1.5),
            "high": (0.5, 0.25, 0.5, 1.0),
        }[energy]
        t = 0.0
        degree = root + 7 + int(rng.integers(0, 3)) * 2  # start on a chord tone an octave up
        while t < 4.0 - 1e-9:
            length = float(choices[int(rng.integers(0, len(choices)))])
            length = min(length, 4.0 - t)
            on_beat = abs(t - round(t)) < 1e-9
            if on_beat:  # land on a chord tone on the beat
                target = [root + 7 + k for k in (0, 2, 4, 7)]
                degree = min(target, key=lambda d: abs(d - degree) + rng.random())
            else:
                degree += int(rng.choice((-2, -1, -1, 1, 1, 2)))
                degree = int(np.clip(degree, root + 3, root + 16))
            if rng.random() > 0.12 or on_beat:  # leave a few rests
                note = self.degree(degree, 1)
                self.add(
                    t_bar + t * self.beat,
                    _instrument(inst, note, length * self.beat * 0.95, self.sr),
                    0.2,
                )
            t += max(length, step / 2)

    def bells_sparkle(self, root: int, t_bar: float) -> None:
        for k in (0, 1.5, 3):
            degree = root + 14 + int(self.rng.choice((0, 2, 4)))
            self.add(
                t_bar + k * self.beat,
                _instrument("bells", self.degree(degree, 1), 2.0, self.sr),
                0.06,
            )


def _envelope(
    n: int, sr: int, attack: float, decay: float, sustain: float, release: float, length: float
) -> NDArray[np.float64]:
    """ADSR over ``n`` samples; the note is held for ``length`` seconds, then released."""
    t = np.arange(n) / sr
    env = np.where(
        t < attack,
        t / max(attack, 1e-6),
        sustain + (1 - sustain) * np.exp(-(t - attack) / max(decay, 1e-6)),
    )
    rel = np.clip(1 - (t - length) / max(release, 1e-6), 0, 1)
    return env * np.where(t > length, rel, 1.0)


def _instrument(name: str, note: int, length: float, sr: int) -> NDArray[np.float64]:
    """One note of an instrument, ``length`` seconds held (plus its release)."""
    f = _midi_hz(note)
    x: NDArray[np.float64]
    if name == "piano":
        n = int((length + 0.4) * sr)
        t = np.arange(n) / sr
        tau = 0.9 * (261.6 / f) ** 0.5
        x = sum(
            np.sin(2 * np.pi * f * k * (1 + 0.0004 * k * k) * t)
            * np.exp(-t * k * 0.6 / tau)
            / k**1.3
            for k in range(1, 8)
        )
        return x * _envelope(n, sr, 0.004, tau, 0.0, 0.25, length)
    if name == "strings":
        n = int((length + 0.5) * sr)
        t = np.arange(n) / sr
        vib = 1 + 0.004 * np.sin(2 * np.pi * 5.2 * t) * np.minimum(1, t / 0.5)
        phase = 2 * np.pi * f * np.cumsum(vib) / sr
        x = sum(np.sin(k * phase) / k * np.exp(-k / 8) for k in range(1, 12) if f * k < sr / 2.2)
        x = x + 0.5 * sum(
            np.sin(k * phase * 1.003) / k * np.exp(-k / 8) for k in range(1, 8) if f * k < sr / 2.2
        )
        return x * _envelope(n, sr, 0.25, 1.0, 0.85, 0.45, length) * 0.6
    if name == "pad":
        n = int((length + 1.0) * sr)
        t = np.arange(n) / sr
        x = sum((np.sin(2 * np.pi * f * d * t) for d in (1.0, 1.004, 0.996, 2.0)), np.zeros(n)) / 3
        return x * _envelope(n, sr, 0.8, 1.0, 1.0, 0.9, length)
    if name == "synth":
        n = int((length + 0.15) * sr)
        t = np.arange(n) / sr
        x = sum(
            (
                np.sin(2 * np.pi * f * d * k * t) / k * np.exp(-k / 5)
                for d in (0.996, 1.004)
                for k in range(1, 10)
                if f * k < sr / 2.2
            ),
            np.zeros(n),
        )
        return x * _envelope(n, sr, 0.01, 0.2, 0.6, 0.1, length) * 0.7
    if name == "guitar":
        n = int((length + 0.3) * sr)
        t = np.arange(n) / sr
        x = sum(
            (
                np.sin(2 * np.pi * f * k * t) * np.exp(-t * (1.5 + 1.2 * k)) / k
                for k in range(1, 9)
                if f * k < sr / 2.2
            ),
            np.zeros(n),
        )
        return x * _envelope(n, sr, 0.002, 10.0, 1.0, 0.15, length)
    if name == "bells":
        n = int((length + 0.5) * sr)
        t = np.arange(n) / sr
        index = 3.0 * np.exp(-t / 0.4)
        x = np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * 3.5 * f * t)) * np.exp(-t / 0.9)
        return x * _envelope(n, sr, 0.002, 10.0, 1.0, 0.4, length) * 0.8
    if name == "flute":
        n = int((length + 0.2) * sr)
        t = np.arange(n) / sr
        vib = 1 + 0.006 * np.sin(2 * np.pi * 5.0 * t) * np.minimum(1, t / 0.3)
        phase = 2 * np.pi * f * np.cumsum(vib) / sr
        breath = np.random.default_rng(note).standard_normal(n) * 0.03
        x = np.sin(phase) + 0.25 * np.sin(2 * phase) + 0.08 * np.sin(3 * phase) + breath
        return x * _envelope(n, sr, 0.06, 0.5, 0.85, 0.12, length)
    if name == "brass":
        n = int((length + 0.2) * sr)
        t = np.arange(n) / sr
        env = _envelope(n, sr, 0.05, 0.3, 0.8, 0.15, length)
        x = np.sin(2 * np.pi * f * t + 2.5 * env * np.sin(2 * np.pi * f * t))
        return x * env * 0.8
    if name == "bass":
        n = int((length + 0.1) * sr)
        t = np.arange(n) / sr
        x = (
            np.sin(2 * np.pi * f * t)
            + 0.35 * np.sin(4 * np.pi * f * t)
            + 0.1 * np.sin(6 * np.pi * f * t)
        )
        return x * _envelope(n, sr, 0.005, 0.3, 0.7, 0.06, length)
    raise ValueError(f"unknown instrument {name!r}")


def _drum(name: str, sr: int, seed: int = 0) -> np.ndarray:
    if name == "kick":
        n = int(0.35 * sr)
        t = np.arange(n) / sr
        freq = 45 + 90 * np.exp(-t / 0.04)
        return np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.12)
    rng = np.random.default_rng(seed)
    if name == "snare":
        n = int(0.2 * sr)
        t = np.arange(n) / sr
        noise = np.diff(rng.standard_normal(n + 1))
        return 0.6 * noise * np.exp(-t / 0.05) + 0.5 * np.sin(2 * np.pi * 190 * t) * np.exp(
            -t / 0.04
        )
    if name == "hat":
        n = int(0.06 * sr)
        t = np.arange(n) / sr
        noise = np.diff(rng.standard_normal(n + 2), 2)  # a crude high-pass
        return 0.4 * noise * np.exp(-t / 0.015)
    raise ValueError(f"unknown drum {name!r}")
