"""Demo content made in Python: no model weights, no network.

* :data:`SCENES`: at least 24 short scenes, each with a written description and captions of
  every kind the paper uses (video, music, fusion, MSI; research/B_modeling.md section 1).
* :func:`render_scene_video`: a 10 s moving picture of a scene drawn with numpy, with a quiet
  ambient "original audio" track that suits it, as a web-ready H.264 + AAC MP4.
* :func:`sketch_generate`: a procedural "sketch" music generator. It reads tempo, mode and
  instruments off a caption's words (:func:`sketch_parameters`) and plays a chord progression,
  a bass line, a melody and a drum pattern with small additive/FM synthesisers. It is for
  pilots and demos; MusicGen is the real generator.

Everything is deterministic: the same scene and seed give the same pixels and samples, the same
caption and seed the same music.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

from .media import write_video

__all__ = [
    "SCENES",
    "SKETCH_GENERATOR_ID",
    "SKETCH_VERSION",
    "Scene",
    "render_scene_video",
    "scene_by_key",
    "sketch_generate",
    "sketch_parameters",
]

SKETCH_GENERATOR_ID = "sketch"
SKETCH_VERSION = "1"

AMBIENCE_SAMPLE_RATE = 48_000
AMBIENCE_RMS_DBFS = -30.0  # quiet, like a field recording under the music


@dataclass(frozen=True)
class Scene:
    key: str
    description: str
    video_caption: str
    music_caption: str
    fusion_caption: str
    msi_caption: str
    labels: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# The scenes. Captions follow the paper's kinds: a SwinBERT-style video caption (what is seen),
# a MU-LLaMA-style music caption (mood, rhythm, genre, instruments), a Mixtral fusion caption
# (the music, described from both) and a Mixtral MSI caption (the scene the music suits).

SCENES: tuple[Scene, ...] = (
    Scene(
        key="sunset-sea",
        description="Sunset over a calm sea: the sun sinks towards the horizon and its light shimmers on slow ripples.",
        video_caption="the sun is setting over the ocean and the water is calm",
        music_caption="The music is slow and relaxing, with soft piano chords and warm strings. It has a peaceful, dreamy mood and a gentle rhythm, like an ambient film score.",
        fusion_caption="The music for this video of a sunset over a calm ocean is a slow, relaxing ambient piece. Soft piano chords and warm strings move gently over a steady, unhurried rhythm, echoing the slow ripples on the water. The mood is peaceful and dreamy, and the warm harmony mirrors the golden light fading into the sea.",
        msi_caption="The music is suitable for a scene of a quiet evening by the sea, such as the sun slowly setting over calm water, where the day winds down and everything feels peaceful.",
        labels=("Music", "Ambient music", "Piano", "Ocean"),
    ),
    Scene(
        key="city-night-traffic",
        description="City traffic at night: headlights and tail lights stream past lit-up tower blocks.",
        video_caption="cars are driving down a busy street in the city at night",
        music_caption="The music is an upbeat electronic track with a driving synth bass and steady drums. It has a fast tempo and an energetic, urban mood.",
        fusion_caption="The music for this video of night traffic in a busy city is an upbeat electronic track. A driving synth bass and tight drums keep a fast, steady pulse, like the stream of headlights passing below the towers. Bright synth stabs give it a restless, energetic, urban feel that suits the lights and motion of the city after dark.",
        msi_caption="The music is suitable for a scene of a city at night, such as cars rushing along a lit-up avenue between tall buildings, where the city feels alive, busy and full of energy.",
        labels=("Music", "Electronic music", "Traffic noise", "Vehicle"),
    ),
    Scene(
        key="forest-rain",
        description="Rain on a forest: dark pine trees under a grey sky, rain falling in long streaks.",
        video_caption="rain is falling in a dark forest with tall trees",
        music_caption="The music is slow and melancholic, with soft piano and a quiet string pad. The mood is calm but sad, with a gentle, sparse rhythm.",
        fusion_caption="The music for this video of rain falling in a dark forest is a slow, melancholic piece for soft piano and a quiet string pad. Sparse piano notes fall like raindrops over sustained minor chords, and the gentle rhythm never hurries. The mood is calm and introspective, with a touch of sadness that matches the grey light under the trees.",
        msi_caption="The music is suitable for a scene of a rainy day in the woods, such as a lonely walk through a dark forest in the rain, where someone reflects quietly on what they have lost.",
        labels=("Music", "Piano", "Rain", "Sad music"),
    ),
    Scene(
        key="fireworks",
        description="Fireworks: coloured bursts bloom and fall over a dark harbour.",
        video_caption="fireworks are exploding in the night sky over the water",
        music_caption="The music is a happy, festive orchestral piece with brass, strings and big drums. It has a fast tempo and a bright, triumphant mood.",
        fusion_caption="The music for this video of fireworks over the water is a festive, triumphant orchestral piece. Brass fanfares and soaring strings ride on big drums at a fast tempo, each phrase landing like a burst of colour in the sky. The mood is bright and joyful, a celebration that builds with every explosion.",
        msi_caption="The music is suitable for a scene of a celebration, such as a New Year's Eve fireworks show over a harbour, where crowds cheer and the sky fills with colour.",
        labels=("Music", "Orchestra", "Fireworks", "Happy music"),
    ),
    Scene(
        key="runner-track",
        description="A runner on a track: a figure sprints along red lanes past the stands.",
        video_caption="a man is running on a track in a stadium",
        music_caption="The music is energetic and fast, with pounding drums, electric guitar and a driving bass line. It sounds like motivating rock.",
        fusion_caption="The music for this video of a runner on a stadium track is a fast, energetic rock track. Pounding drums and a driving bass line set a relentless pace, and an electric guitar riff pushes forward like a sprinter's stride. The mood is determined and motivating, full of the tension and drive of a race.",
        msi_caption="The music is suitable for a scene of athletic competition, such as a sprinter racing down the final straight of a track, where every second counts and the crowd urges them on.",
        labels=("Music", "Rock music", "Running", "Drum kit"),
    ),
    Scene(
        key="snow-village",
        description="Snow falling in a village: small houses with lit windows under drifting snowflakes.",
        video_caption="snow is falling on a small village with houses",
        music_caption="The music is calm and gentle, with bells, celesta and soft strings. It has a slow tempo and a warm, happy, magical mood, like a winter lullaby.",
        fusion_caption="The music for this video of snow falling on a small village is a gentle winter lullaby. Bells and celesta play a twinkling melody over soft, warm strings at a slow tempo, like snowflakes drifting past lit windows. The mood is calm, cosy and magical, with a quiet happiness that suits the sleeping village.",
        msi_caption="The music is suitable for a scene of a peaceful winter night, such as snow falling on a quiet village before Christmas, where families are warm inside and the streets are still.",
        labels=("Music", "Christmas music", "Bell", "Snow"),
    ),
    Scene(
        key="desert-stars",
        description="A starry night over the desert: dunes under a sky full of twinkling stars and a rising moon.",
        video_caption="a night sky full of stars above the desert",
        music_caption="The music is slow, mysterious and atmospheric, with a deep synth pad and a soft flute melody. It is ambient and spacious.",
        fusion_caption="The music for this video of a starry sky over the desert is a slow, mysterious ambient piece. A deep synth pad holds long, dark chords while a soft flute melody wanders above it, leaving plenty of space. The mood is calm, vast and a little eerie, like the silence of the dunes under the stars.",
        msi_caption="The music is suitable for a scene of a desert night, such as a traveller resting by the dunes under a sky full of stars, where the world feels vast, silent and mysterious.",
        labels=("Music", "Ambient music", "Flute", "Wind"),
    ),
    Scene(
        key="campfire",
        description="A campfire at night: flames flicker and sparks rise into the dark.",
        video_caption="a campfire is burning at night in the woods",
        music_caption="The music is a warm acoustic folk song with guitar and a gentle rhythm. The tempo is moderate and the mood is cosy and nostalgic.",
        fusion_caption="The music for this video of a campfire burning at night is a warm acoustic folk piece. A fingerpicked guitar plays steady chords at a moderate tempo while a simple melody hums along, like a song shared around the fire. The mood is cosy and nostalgic, with the crackle and glow of a night outdoors with friends.",
        msi_caption="The music is suitable for a scene of friends camping, such as people gathered around a campfire telling stories late at night, where the mood is warm, relaxed and a little nostalgic.",
        labels=("Music", "Acoustic guitar", "Folk music", "Fire"),
    ),
    Scene(
        key="thunderstorm",
        description="A thunderstorm over the plains: dark clouds, heavy rain and sudden flashes of lightning.",
        video_caption="lightning strikes during a storm with dark clouds and rain",
        music_caption="The music is dark and tense, with dramatic low strings, heavy drums and a pulsing rhythm. It sounds like a suspenseful film score.",
        fusion_caption="The music for this video of a thunderstorm is a dark, dramatic film score. Low strings saw out tense minor chords over heavy drums and a pulsing rhythm, and sudden accents hit like thunder after the lightning. The mood is suspenseful and ominous, building a sense of danger as the storm closes in.",
        msi_caption="The music is suitable for a scene of danger approaching, such as a violent storm sweeping across open plains, where lightning splits the sky and something bad is about to happen.",
        labels=("Music", "Thunderstorm", "Orchestra", "Scary music"),
    ),
    Scene(
        key="autumn-park",
        description="Autumn leaves falling in a park: orange and red leaves drift down past the trees.",
        video_caption="leaves are falling from the trees in a park in autumn",
        music_caption="The music is a gentle, nostalgic piano piece with soft strings. The tempo is slow to moderate and the mood is bittersweet and warm.",
        fusion_caption="The music for this video of autumn leaves falling in a park is a gentle, nostalgic piano piece. A flowing piano melody drifts over soft strings at an easy tempo, rising and falling like leaves in the wind. The mood is bittersweet and warm, full of memories of seasons past.",
        msi_caption="The music is suitable for a scene of remembering, such as an old couple walking through a park in autumn, where falling leaves bring back memories of their life together.",
        labels=("Music", "Piano", "Classical music"),
    ),
    Scene(
        key="underwater",
        description="An underwater world: deep blue water, light rays from the surface and rising bubbles.",
        video_caption="bubbles are rising in deep blue water under the sea",
        music_caption="The music is dreamy and floating, with an ambient synth pad, soft bells and a slow tempo. It is calm and ethereal.",
        fusion_caption="The music for this video of bubbles rising in deep blue water is a dreamy, floating ambient piece. A soft synth pad swells slowly while bells ring out in a gentle, unhurried pattern, like light glittering through the water. The mood is calm and ethereal, weightless and far from the noise of the surface.",
        msi_caption="The music is suitable for a scene of exploring the deep sea, such as a diver drifting among bubbles and light rays in clear blue water, where everything moves slowly and quietly.",
        labels=("Music", "Ambient music", "Bubbles", "Underwater"),
    ),
    Scene(
        key="northern-lights",
        description="Northern lights over a frozen lake: green and violet curtains ripple across the night sky.",
        video_caption="the northern lights are glowing in the sky over a frozen lake",
        music_caption="The music is slow and ethereal, with a shimmering synth pad, strings and bells. It has a calm, mysterious and awe-inspiring mood.",
        fusion_caption="The music for this video of the northern lights over a frozen lake is a slow, ethereal ambient piece. A shimmering synth pad and high strings hold long chords that swell and fade like the curtains of light, while bells sparkle above them. The mood is calm, mysterious and full of awe at the cold, glowing sky.",
        msi_caption="The music is suitable for a scene of wonder in nature, such as the aurora dancing above a frozen lake in the Arctic, where a lone traveller stops and watches in silence.",
        labels=("Music", "Ambient music", "Synthesizer"),
    ),
    Scene(
        key="dance-party",
        description="A dance party with flashing lights: coloured spotlights sweep over a crowd and strobes flash.",
        video_caption="people are dancing at a party with colorful lights",
        music_caption="The music is an energetic dance track with a four-on-the-floor kick, synth chords and a pumping bass. It is fast, upbeat and happy.",
        fusion_caption="The music for this video of people dancing at a party is an energetic, upbeat dance track. A four-on-the-floor kick drives a fast tempo while a pumping synth bass and bright synth chords lift the energy, matching the sweeping coloured lights. The mood is happy and euphoric, made for a crowded dance floor.",
        msi_caption="The music is suitable for a scene of a nightclub or festival, such as a crowd dancing under flashing lights at midnight, where everyone is moving to the beat.",
        labels=("Music", "Electronic dance music", "House music", "Crowd"),
    ),
    Scene(
        key="highway-dusk",
        description="Driving down an empty highway at dusk: the road markings rush towards the camera under a purple sky.",
        video_caption="a car is driving on an empty highway at dusk",
        music_caption="The music is a nostalgic synthwave track with warm synths, steady drums and a bass line. The tempo is moderate and the mood is dreamy.",
        fusion_caption="The music for this video of driving down an empty highway at dusk is a nostalgic synthwave track. Warm synth chords and a pulsing bass line ride on steady drums at a moderate tempo, like white lines passing under the wheels. The mood is dreamy and reflective, with a retro glow that matches the purple evening sky.",
        msi_caption="The music is suitable for a scene of a road trip, such as driving alone on an empty highway as the sun goes down, where the road stretches ahead and the mind wanders.",
        labels=("Music", "Synthesizer", "Car", "Electronic music"),
    ),
    Scene(
        key="birds-sunrise",
        description="Birds flying across a sunrise sky: a flock crosses a pink and orange dawn above green hills.",
        video_caption="a flock of birds is flying in the sky at sunrise",
        music_caption="The music is bright and uplifting, with flute, acoustic guitar and light strings. It has a moderate tempo and a happy, hopeful mood.",
        fusion_caption="The music for this video of birds flying at sunrise is a bright, uplifting piece. A light flute melody flies over acoustic guitar and gentle strings at a moderate tempo, like the flock crossing the morning sky. The mood is happy and hopeful, the sound of a fresh start to a new day.",
        msi_caption="The music is suitable for a scene of a new beginning, such as birds flying over the hills as the sun rises, where the day starts full of hope and freedom.",
        labels=("Music", "Bird", "Flute", "Happy music"),
    ),
    Scene(
        key="mountain-clouds",
        description="Clouds drifting past mountain peaks: layered blue ridges with slow white clouds.",
        video_caption="clouds are moving over the top of the mountains",
        music_caption="The music is an epic orchestral piece with strings, brass and slow drums. It is grand and majestic, with a slow, powerful rhythm.",
        fusion_caption="The music for this video of clouds moving over mountain peaks is an epic, majestic orchestral piece. Broad strings and brass play slow, powerful chords over deep drums, rising like the ridges into the sky. The mood is grand and inspiring, a sense of scale and timelessness that suits the mountains and the drifting clouds.",
        msi_caption="The music is suitable for a scene of epic landscapes, such as a time-lapse of clouds rolling over high mountains in a nature documentary, where the world looks vast and majestic.",
        labels=("Music", "Orchestra", "Soundtrack music"),
    ),
    Scene(
        key="spring-meadow",
        description="A sunny meadow in spring: green grass, flowers and fluttering butterflies under a blue sky.",
        video_caption="butterflies are flying over a field of flowers on a sunny day",
        music_caption="The music is cheerful and playful, with pizzicato strings, bells and a light acoustic guitar. It is upbeat, happy and bright.",
        fusion_caption="The music for this video of butterflies over a flowering meadow is a cheerful, playful piece. Bouncing strings, bells and a light acoustic guitar play a skipping melody at an upbeat tempo, like butterflies flitting from flower to flower. The mood is happy, bright and carefree, full of spring sunshine.",
        msi_caption="The music is suitable for a scene of a sunny spring day, such as children playing in a meadow full of flowers and butterflies, where everything is light and carefree.",
        labels=("Music", "Happy music", "Guitar", "Insect"),
    ),
    Scene(
        key="space-journey",
        description="A journey through space: stars stream past from a vanishing point as if flying at great speed.",
        video_caption="stars are moving quickly in outer space",
        music_caption="The music is a futuristic electronic piece with synth arpeggios, a deep bass and driving drums. It is fast, intense and exciting.",
        fusion_caption="The music for this video of stars streaming past in outer space is a futuristic, intense electronic piece. Fast synth arpeggios spiral over a deep bass and driving drums, like stars rushing past at light speed. The mood is exciting and a little tense, the thrill of travelling into the unknown.",
        msi_caption="The music is suitable for a scene of science fiction, such as a spaceship jumping to hyperspace and racing past the stars, where the crew heads into an unknown and exciting adventure.",
        labels=("Music", "Electronic music", "Synthesizer"),
    ),
    Scene(
        key="candlelit-dinner",
        description="A candle-lit dinner: two candle flames flicker in a warm, dark room.",
        video_caption="candles are burning on a table in a dark room",
        music_caption="The music is a romantic, slow jazz ballad with soft piano and a gentle bass. The mood is warm, intimate and relaxed.",
        fusion_caption="The music for this video of candles burning on a table is a romantic, slow jazz ballad. Soft piano chords and a gentle walking bass move at a relaxed tempo, as warm and steady as the candle flames. The mood is intimate and tender, perfect for a quiet evening for two.",
        msi_caption="The music is suitable for a scene of romance, such as a couple sharing a candle-lit dinner in a quiet restaurant, where they talk softly and the rest of the world fades away.",
        labels=("Music", "Jazz", "Piano", "Romantic music"),
    ),
    Scene(
        key="basketball-game",
        description="A basketball game in front of a crowd: players run across the court and the ball bounces between them.",
        video_caption="a basketball game is being played in front of a crowd",
        music_caption="The music has a mood of suspense and tension, with a steady rhythm and a strong beat. It is a blend of orchestral strings, electronic synth and heavy drums.",
        fusion_caption="The music described in the captions for the basketball game video is a dramatic and tense composition. A steady rhythm and a strong drum beat drive it forward while orchestral strings and electronic synths build layers of suspense. It is dynamic and impactful, well suited to the fast-paced and thrilling atmosphere of a basketball game.",
        msi_caption="The music is suitable for a scene of sports competition, such as a crucial moment in a basketball game, where a high level of tension and excitement is being built up.",
        labels=("Music", "Basketball", "Crowd", "Drum"),
    ),
    Scene(
        key="rainy-window",
        description="Rain on a window at night: drops slide down the glass in front of blurred city lights.",
        video_caption="raindrops are running down a window at night",
        music_caption="The music is sad and lonely, a slow piano ballad with a soft cello. The tempo is slow and the mood is melancholic and heartbroken.",
        fusion_caption="The music for this video of raindrops running down a window at night is a sad, slow piano ballad. A lonely piano melody is answered by a soft cello over quiet minor chords, at a slow, hesitant tempo like drops sliding down the glass. The mood is melancholic and heartbroken, the sound of someone alone with their thoughts.",
        msi_caption="The music is suitable for a scene of heartbreak, such as someone sitting alone by a rainy window at night after a breakup, where the blurred city lights feel far away.",
        labels=("Music", "Sad music", "Piano", "Rain"),
    ),
    Scene(
        key="carnival-wheel",
        description="A carnival at night: a ferris wheel turns, its lights twinkling in many colours.",
        video_caption="a ferris wheel is spinning at a carnival at night",
        music_caption="The music is a playful, happy waltz with organ-like synth, bells and a bouncy bass. It is upbeat, whimsical and fun.",
        fusion_caption="The music for this video of a ferris wheel spinning at a night carnival is a playful, whimsical waltz. An organ-like synth and bells turn a circling melody over a bouncy bass, round and round like the wheel. The mood is happy and fun, with a touch of old-fashioned fairground magic.",
        msi_caption="The music is suitable for a scene at a fairground, such as families riding a lit-up ferris wheel at a summer carnival, where children laugh and the night is full of colour.",
        labels=("Music", "Carnival", "Bell", "Happy music"),
    ),
    Scene(
        key="neon-street",
        description="Neon signs in a rainy street: pink and cyan signs flicker above wet, reflecting pavement.",
        video_caption="neon signs are glowing on a street at night",
        music_caption="The music is a dark, moody electronic track with deep synth bass, slow drums and a mysterious melody. It sounds like cyberpunk.",
        fusion_caption="The music for this video of neon signs glowing on a night street is a dark, moody electronic track. A deep synth bass and slow, heavy drums lay down a brooding groove, while a mysterious synth melody flickers above like the signs. The mood is tense and cool, a cyberpunk city where anything could happen.",
        msi_caption="The music is suitable for a scene of a futuristic city, such as a detective walking down a neon-lit street in the rain, where danger and secrets hide in the shadows.",
        labels=("Music", "Electronic music", "Synthesizer", "Rain"),
    ),
    Scene(
        key="lantern-festival",
        description="Paper lanterns floating into the night sky: warm glowing lights rise slowly and sway.",
        video_caption="lanterns are floating up into the sky at night",
        music_caption="The music is gentle and hopeful, with a flute melody, soft strings and bells. The tempo is slow and the mood is peaceful and emotional.",
        fusion_caption="The music for this video of lanterns floating up into the night sky is a gentle, hopeful piece. A soft flute melody rises over warm strings and bells at a slow tempo, drifting upward like the glowing lanterns. The mood is peaceful and emotional, a quiet moment of wishes and hope.",
        msi_caption="The music is suitable for a scene of a festival of lights, such as people releasing paper lanterns into the night sky, where each light carries a wish and the moment feels magical.",
        labels=("Music", "Flute", "Bell", "Traditional music"),
    ),
    Scene(
        key="waves-rocks",
        description="Waves crashing on rocks: a rough grey sea throws white foam against dark rocks.",
        video_caption="waves are crashing against the rocks on the coast",
        music_caption="The music is powerful and dramatic, with heavy drums, low strings and brass. It has a strong rhythm and a dark, intense mood.",
        fusion_caption="The music for this video of waves crashing on rocks is a powerful, dramatic orchestral piece. Heavy drums pound out a strong rhythm under low strings and brass, and every accent lands like a wave hitting the shore. The mood is dark and intense, the raw force of the sea.",
        msi_caption="The music is suitable for a scene of nature's power, such as huge waves breaking against a rocky coast in a storm, where the sea seems angry and unstoppable.",
        labels=("Music", "Ocean", "Waves, surf", "Orchestra"),
    ),
    Scene(
        key="confetti-celebration",
        description="Confetti at a celebration: colourful confetti rains down in front of bright party lights.",
        video_caption="colorful confetti is falling at a celebration",
        music_caption="The music is a joyful pop song with bright synths, handclaps, drums and bass. It is fast, upbeat and happy.",
        fusion_caption="The music for this video of colourful confetti falling at a celebration is a joyful, upbeat pop song. Bright synths and a catchy melody bounce over drums, handclaps and a punchy bass at a fast tempo, like confetti fluttering down. The mood is happy and exuberant, a party at its peak.",
        msi_caption="The music is suitable for a scene of celebration, such as a surprise birthday party or a wedding, where confetti falls and everyone cheers and dances.",
        labels=("Music", "Pop music", "Happy music", "Cheering"),
    ),
)


def scene_by_key(key: str) -> Scene:
    for scene in SCENES:
        if scene.key == key:
            return scene
    raise KeyError(f"no demo scene {key!r}; known: {', '.join(s.key for s in SCENES)}")


# ---------------------------------------------------------------------------------------------
# Drawing. A scene's look is a sky gradient plus layers. A layer paints once into the static
# background and/or draws into every frame; all drawing is vectorised numpy on float32 RGB.

Colour = tuple[float, float, float]


def _rgb(hex_colour: str) -> np.ndarray:
    value = int(hex_colour.lstrip("#"), 16)
    return np.array([(value >> 16) & 255, (value >> 8) & 255, value & 255], np.float32) / 255.0


class _Canvas:
    """Pixel grids shared by the layers of one video."""

    def __init__(self, width: int, height: int, duration: float, rng: np.random.Generator):
        self.w, self.h, self.duration, self.rng = width, height, duration, rng
        self.y, self.x = np.mgrid[0:height, 0:width].astype(np.float32)
        self.s = height / 180.0  # scale: layers are designed at 320x180


def _blend(img: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    """img = img * (1 - mask) + colour * mask, in place; mask is (H, W) or broadcastable."""
    img += mask[..., None] * (colour - img)


@functools.lru_cache(maxsize=512)
def _gauss_patch(radius_q: float) -> np.ndarray:
    half = int(math.ceil(3.0 * radius_q))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    return np.exp(-(xx * xx + yy * yy) / (2.0 * radius_q * radius_q))


@functools.lru_cache(maxsize=512)
def _disc_patch(radius_q: float) -> np.ndarray:
    half = int(math.ceil(radius_q)) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    return np.clip(radius_q - np.sqrt(xx * xx + yy * yy) + 0.5, 0.0, 1.0)


def _quantise(radius: float) -> float:
    return max(0.5, round(float(radius) * 4.0) / 4.0)


def _stamp(img: np.ndarray, cx: float, cy: float, patch: np.ndarray):
    """The part of ``img`` under ``patch`` centred at (cx, cy), and the matching part of the
    patch; (None, None) when they do not overlap."""
    half = patch.shape[0] // 2
    x, y = int(round(cx)), int(round(cy))
    h, w = img.shape[:2]
    x0, x1, y0, y1 = x - half, x + half + 1, y - half, y + half + 1
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        return None, None
    px0, py0 = max(0, -x0), max(0, -y0)
    px1, py1 = patch.shape[1] - max(0, x1 - w), patch.shape[0] - max(0, y1 - h)
    return img[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)], patch[py0:py1, px0:px1]


def _glow(
    c: _Canvas, img: np.ndarray, cx: float, cy: float, radius: float, colour, strength: float
) -> None:
    """Additive soft (Gaussian) glow."""
    region, patch = _stamp(img, cx, cy, _gauss_patch(_quantise(radius)))
    if region is not None:
        region += patch[..., None] * (np.asarray(colour, np.float32) * np.float32(strength))


def _disc(
    c: _Canvas, img: np.ndarray, cx: float, cy: float, radius: float, colour, alpha: float = 1.0
) -> None:
    """An anti-aliased filled disc, blended over ``img``."""
    region, patch = _stamp(img, cx, cy, _disc_patch(_quantise(radius)))
    if region is not None:
        region += (np.float32(alpha) * patch)[..., None] * (np.asarray(colour, np.float32) - region)


def _dots(c: _Canvas, img: np.ndarray, xs, ys, colours, alpha=1.0, size: int = 1) -> None:
    """Small square points; ``colours`` is (3,) or (N, 3); ``alpha`` scalar or (N,)."""
    xs = np.asarray(xs, np.float32)
    ys = np.asarray(ys, np.float32)
    colours = np.broadcast_to(np.asarray(colours, np.float32), (len(xs), 3))
    alpha = np.broadcast_to(np.asarray(alpha, np.float32), (len(xs),))
    for dy in range(size):
        for dx in range(size):
            xi = np.round(xs).astype(np.int64) + dx
            yi = np.round(ys).astype(np.int64) + dy
            ok = (xi >= 0) & (xi < c.w) & (yi >= 0) & (yi < c.h)
            a = alpha[ok][:, None]
            img[yi[ok], xi[ok]] += a * (colours[ok] - img[yi[ok], xi[ok]])


def _lines(c: _Canvas, img: np.ndarray, x0, y0, x1, y1, colour, alpha=1.0, steps: int = 12) -> None:
    """Thin straight segments from (x0, y0) to (x1, y1), one per element."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :]
    xs = (
        np.asarray(x0, np.float32)[:, None] * (1 - t) + np.asarray(x1, np.float32)[:, None] * t
    ).ravel()
    ys = (
        np.asarray(y0, np.float32)[:, None] * (1 - t) + np.asarray(y1, np.float32)[:, None] * t
    ).ravel()
    a = np.repeat(np.broadcast_to(np.asarray(alpha, np.float32), (len(np.atleast_1d(x0)),)), steps)
    _dots(c, img, xs, ys, colour, a)


class _Layer:
    def __init__(self, c: _Canvas, **params):
        self.c = c
        self.params = params
        self.setup(**params)

    def setup(self, **params) -> None:
        pass

    def paint(self, bg: np.ndarray) -> None:
        """Paint into the static background (once)."""

    def draw(self, img: np.ndarray, t: float) -> None:
        """Draw into the frame at time ``t`` seconds."""


class _Ground(_Layer):
    def setup(self, top: float = 0.75, colour: str = "#203020", far: str | None = None):
        self.top, self.colour, self.far = top, _rgb(colour), _rgb(far or colour)

    def paint(self, bg):
        y0 = int(self.top * self.c.h)
        k = np.linspace(0.0, 1.0, self.c.h - y0, dtype=np.float32)[:, None, None]
        bg[y0:] = self.far * (1 - k) + self.colour * k


class _Sun(_Layer):
    def setup(
        self,
        colour="#ffcc66",
        start=(0.5, 0.45),
        end=(0.5, 0.62),
        radius=14.0,
        glow=0.8,
        horizon=None,
    ):
        self.colour, self.start, self.end = _rgb(colour), start, end
        self.radius, self.glow, self.horizon = radius * self.c.s, glow, horizon

    def draw(self, img, t):
        k = t / self.c.duration
        cx = (self.start[0] * (1 - k) + self.end[0] * k) * self.c.w
        cy = (self.start[1] * (1 - k) + self.end[1] * k) * self.c.h
        # The sea (below ``horizon``) hides the lower part of the sun.
        sky = img[: int(self.horizon * self.c.h)] if self.horizon is not None else img
        _glow(self.c, sky, cx, cy, self.radius * 1.8, self.colour, self.glow * 0.5)
        _disc(self.c, sky, cx, cy, self.radius, np.minimum(self.colour * 1.2, 1.0))


class _Water(_Layer):
    """Water below ``top``: gradient plus moving ripples and a glitter path under a light."""

    def setup(
        self,
        top=0.6,
        colour="#1a3a5a",
        deep="#0a1a30",
        ripple=0.06,
        speed=1.0,
        light_x=None,
        light="#ffd080",
        rough=1.0,
    ):
        self.top, self.colour, self.deep = top, _rgb(colour), _rgb(deep)
        self.ripple, self.speed, self.light = ripple, speed, _rgb(light)
        y0 = int(top * self.c.h)
        self.y0 = y0
        yy = self.c.y[y0:] - y0 + 1.0
        xx = self.c.x[y0:]
        self.depth = yy / max(1.0, self.c.h - y0)
        # wave = sin(p - 3w) * sin(q + 0.7w), expanded so a frame costs a few multiply-adds.
        p = 40.0 * np.log(yy) * rough + 0.04 * xx * rough
        q = 0.11 * xx / self.c.s + 12.0 * np.log(yy) * rough
        self.sp, self.cp, self.sq, self.cq = np.sin(p), np.cos(p), np.sin(q), np.cos(q)
        self.path = None
        if light_x is not None:
            spread = (6.0 + 30.0 * self.depth) * self.c.s
            self.path = 0.9 * np.exp(-((xx - light_x * self.c.w) ** 2) / (2 * spread**2))

    def paint(self, bg):
        k = self.depth[..., None]
        bg[self.y0 :] = self.colour * (1 - k) + self.deep * k

    def draw(self, img, t):
        w = t * self.speed
        a, b = 3.0 * w, 0.7 * w
        wave = (self.sp * math.cos(a) - self.cp * math.sin(a)) * (
            self.sq * math.cos(b) + self.cq * math.sin(b)
        )
        region = img[self.y0 :]
        region += (self.ripple * wave)[..., None]
        if self.path is not None:
            glitter = np.clip(wave, 0.0, 1.0)
            region += (self.path * glitter * glitter * glitter)[..., None] * self.light


class _Stars(_Layer):
    def setup(self, n=120, top=0.0, bottom=0.6, twinkle=0.5, colour="#ffffff"):
        rng = self.c.rng
        self.xs = rng.uniform(0, self.c.w, n)
        self.ys = rng.uniform(top * self.c.h, bottom * self.c.h, n)
        self.base = rng.uniform(0.3, 1.0, n)
        self.freq = rng.uniform(0.5, 3.0, n)
        self.phase = rng.uniform(0, 2 * np.pi, n)
        self.twinkle, self.colour = twinkle, _rgb(colour)

    def draw(self, img, t):
        a = self.base * (
            1 - self.twinkle * (0.5 + 0.5 * np.sin(self.freq * 2 * np.pi * t + self.phase))
        )
        _dots(self.c, img, self.xs, self.ys, self.colour, a)


class _Moon(_Layer):
    def setup(self, x=0.8, y=0.2, radius=9.0, colour="#f4f0dc"):
        self.x, self.y, self.r, self.colour = x, y, radius * self.c.s, _rgb(colour)

    def paint(self, bg):
        cx, cy = self.x * self.c.w, self.y * self.c.h
        _glow(self.c, bg, cx, cy, self.r * 2, self.colour, 0.25)
        _disc(self.c, bg, cx, cy, self.r, self.colour)


class _Skyline(_Layer):
    """Tower blocks with lit windows; a few windows switch on and off."""

    def setup(
        self,
        base=0.75,
        height=(0.2, 0.55),
        colour="#0c0c16",
        window="#ffd27a",
        lit=0.35,
        houses=False,
    ):
        rng, c = self.c.rng, self.c
        self.base, self.colour, self.window = base, _rgb(colour), _rgb(window)
        self.rects, wins = [], []
        x = -5.0 * c.s
        while x < c.w:
            bw = rng.uniform(18, 45) * c.s if not houses else rng.uniform(28, 40) * c.s
            bh = rng.uniform(*height) * c.h
            self.rects.append((x, base * c.h - bh, x + bw - 2 * c.s, base * c.h))
            step = 6 * c.s
            for wy in np.arange(base * c.h - bh + 4 * c.s, base * c.h - 4 * c.s, step):
                for wx in np.arange(x + 3 * c.s, x + bw - 6 * c.s, step):
                    if rng.random() < lit:
                        wins.append((wx, wy))
            x += bw + (rng.uniform(0, 8) * c.s if houses else 0)
        self.houses = houses
        w = np.array(wins, np.float32).reshape(-1, 2)
        self.wx, self.wy = w[:, 0], w[:, 1]
        self.toggle_t = rng.uniform(0, c.duration, len(w))
        self.toggles = rng.random(len(w)) < 0.15

    def paint(self, bg):
        c = self.c
        for x0, y0, x1, y1 in self.rects:
            bg[int(max(0, y0)) : int(y1), int(max(0, x0)) : int(max(0, x1))] = self.colour
            if self.houses:  # a roof
                cx, span = (x0 + x1) / 2, (x1 - x0) / 2
                ys = np.arange(int(y0 - span * 0.6), int(y0))
                for yy in ys[(ys >= 0)]:
                    half = span * (yy - (y0 - span * 0.6)) / (span * 0.6)
                    bg[yy, int(max(0, cx - half)) : int(max(0, cx + half))] = self.colour
        size = max(1, int(round(2 * c.s)))
        _dots(c, bg, self.wx, self.wy, self.window, 0.9, size=size)

    def draw(self, img, t):
        off = self.toggles & (t > self.toggle_t)
        if off.any():
            size = max(1, int(round(2 * self.c.s)))
            _dots(self.c, img, self.wx[off], self.wy[off], self.colour, 1.0, size=size)


class _Traffic(_Layer):
    def setup(self, y=0.85, n=14, speed=(60, 110)):
        rng, c = self.c.rng, self.c
        self.y = y * c.h
        self.dir = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        self.lane = np.where(self.dir > 0, self.y + 5 * c.s, self.y - 3 * c.s)
        self.v = rng.uniform(*speed, n) * c.s * self.dir
        self.x0 = rng.uniform(0, c.w + 60 * c.s, n)

    def paint(self, bg):
        c = self.c
        bg[int(self.y - 8 * c.s) : int(self.y + 10 * c.s)] = _rgb("#15151c")
        dash = (np.arange(c.w) // int(10 * c.s)) % 2 == 0
        bg[int(self.y + 1 * c.s), dash] = _rgb("#a0a070")

    def draw(self, img, t):
        c = self.c
        span = c.w + 60 * c.s
        x = (self.x0 + self.v * t) % span - 30 * c.s
        heads = self.dir > 0
        colours = np.where(heads[:, None], _rgb("#fff6d8"), _rgb("#ff3020"))
        for dx in (0.0, 6.0 * c.s):
            for i in range(len(x)):
                _glow(
                    c, img, x[i] + dx, self.lane[i], 2.5 * c.s, colours[i], 0.9 if heads[i] else 0.6
                )


class _Rain(_Layer):
    def setup(
        self,
        n=220,
        speed=260.0,
        length=9.0,
        slant=0.15,
        colour="#9fb4c8",
        alpha=0.35,
        top=0.0,
        bottom=1.0,
    ):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(-20, c.w + 20, n)
        self.y0 = rng.uniform(0, c.h, n)
        self.v = rng.uniform(0.8, 1.2, n) * speed * c.s
        self.length, self.slant, self.colour, self.alpha = length * c.s, slant, _rgb(colour), alpha
        self.top, self.bottom = top * c.h, bottom * c.h

    def draw(self, img, t):
        span = self.bottom - self.top + self.length
        y = self.top + (self.y0 + self.v * t) % span - self.length
        x = self.x0 + self.slant * (y - self.top)
        _lines(
            self.c,
            img,
            x,
            y,
            x + self.slant * self.length,
            y + self.length,
            self.colour,
            self.alpha,
            steps=int(self.length) + 1,
        )


class _Snow(_Layer):
    def setup(self, n=260, speed=18.0, colour="#ffffff"):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(0, c.w, n)
        self.y0 = rng.uniform(0, c.h, n)
        self.v = rng.uniform(0.5, 1.5, n) * speed * c.s
        self.sway = rng.uniform(2, 8, n) * c.s
        self.f = rng.uniform(0.2, 0.7, n)
        self.ph = rng.uniform(0, 2 * np.pi, n)
        self.big = rng.random(n) < 0.3
        self.colour = _rgb(colour)

    def draw(self, img, t):
        y = (self.y0 + self.v * t) % self.c.h
        x = (self.x0 + self.sway * np.sin(2 * np.pi * self.f * t + self.ph)) % self.c.w
        _dots(self.c, img, x[~self.big], y[~self.big], self.colour, 0.8)
        _dots(
            self.c, img, x[self.big], y[self.big], self.colour, 0.9, size=max(2, int(2 * self.c.s))
        )


class _Trees(_Layer):
    def setup(self, base=0.9, n=16, height=(0.35, 0.75), colour="#0b1c12", far="#1c3326"):
        rng, c = self.c.rng, self.c
        self.trees = []
        for layer, col in ((0, _rgb(far)), (1, _rgb(colour))):
            for _ in range(n // 2):
                h = rng.uniform(*height) * c.h * (0.75 if layer == 0 else 1.0)
                self.trees.append((rng.uniform(0, c.w), h, h * rng.uniform(0.25, 0.35), col, layer))
        self.base = base * c.h

    def paint(self, bg):
        c = self.c
        for x, h, half, col, _ in sorted(self.trees, key=lambda tr: tr[4]):
            top = self.base - h
            rel = (c.y - top) / h
            mask = (
                (rel >= 0)
                & (rel <= 1)
                & (np.abs(c.x - x) <= half * rel * (0.6 + 0.4 * ((rel * 5) % 1)))
            )
            bg[mask] = col
        bg[int(self.base) :] = self.trees[-1][3]


class _Fireworks(_Layer):
    def setup(self, bursts=6, particles=90):
        rng, c = self.c.rng, self.c
        self.times = np.sort(rng.uniform(0.3, max(0.4, c.duration - 1.5), bursts))
        self.cx = rng.uniform(0.2, 0.8, bursts) * c.w
        self.cy = rng.uniform(0.15, 0.45, bursts) * c.h
        palette = np.array(
            [_rgb(h) for h in ("#ff4040", "#40ff80", "#6080ff", "#ffd040", "#ff60ff", "#ffffff")]
        )
        self.colour = palette[rng.integers(0, len(palette), bursts)]
        ang = rng.uniform(0, 2 * np.pi, (bursts, particles))
        spd = rng.uniform(20, 55, (bursts, particles)) * c.s
        self.vx, self.vy = np.cos(ang) * spd, np.sin(ang) * spd

    def draw(self, img, t):
        c = self.c
        for i, t0 in enumerate(self.times):
            dt = t - t0
            if dt < -0.6 or dt > 2.5:
                continue
            if dt < 0:  # the rocket climbs
                k = 1 + dt / 0.6
                _glow(
                    c,
                    img,
                    self.cx[i],
                    c.h - k * (c.h - self.cy[i]),
                    1.5 * c.s,
                    _rgb("#ffe0a0"),
                    0.8,
                )
                continue
            x = self.cx[i] + self.vx[i] * dt * (1.0 - 0.25 * dt)
            y = self.cy[i] + self.vy[i] * dt * (1.0 - 0.25 * dt) + 9.0 * c.s * dt * dt
            fade = max(0.0, 1.0 - dt / 2.5)
            _dots(c, img, x, y, self.colour[i], fade, size=max(1, int(2 * c.s)))
            if dt < 0.3:
                _glow(
                    c, img, self.cx[i], self.cy[i], 25 * c.s, self.colour[i], 0.5 * (1 - dt / 0.3)
                )


class _Runner(_Layer):
    def setup(self, y=0.78, speed=70.0, colour="#f0f0f0"):
        self.y, self.speed, self.colour = y * self.c.h, speed * self.c.s, _rgb(colour)

    def paint(self, bg):
        c = self.c
        bg[int(self.y - 14 * c.s) :] = _rgb("#b0432e")
        for k in range(5):
            bg[int(self.y - 14 * c.s + k * 9 * c.s)] = _rgb("#f2e6d0")
        bg[int(0.35 * c.h) : int(self.y - 14 * c.s)] = _rgb("#3c4a5c")
        stands = c.rng.random((int(self.y - 14 * c.s) - int(0.35 * c.h), c.w)) < 0.35
        crowd = bg[int(0.35 * c.h) : int(self.y - 14 * c.s)]
        crowd[stands] = (
            crowd[stands] * 0.7 + c.rng.random((int(stands.sum()), 3)).astype(np.float32) * 0.3
        )

    def draw(self, img, t):
        c = self.c
        x = (20 * c.s + self.speed * t) % (c.w + 40 * c.s) - 20 * c.s
        stride = np.sin(2 * np.pi * 2.6 * t)
        hip_y = self.y - 12 * c.s - abs(stride) * 1.5 * c.s
        col = self.colour
        _disc(c, img, x + 2 * c.s, hip_y - 16 * c.s, 3.2 * c.s, col)  # head
        _lines(c, img, [x], [hip_y], [x + 2 * c.s], [hip_y - 12 * c.s], col, steps=14)  # body
        legs = [(x, hip_y, x + 7 * stride * c.s, self.y), (x, hip_y, x - 7 * stride * c.s, self.y)]
        arms = [
            (x + 1.5 * c.s, hip_y - 10 * c.s, x + 1.5 * c.s - 6 * stride * c.s, hip_y - 4 * c.s),
            (x + 1.5 * c.s, hip_y - 10 * c.s, x + 1.5 * c.s + 6 * stride * c.s, hip_y - 4 * c.s),
        ]
        for x0, y0, x1, y1 in legs + arms:
            for off in (0.0, 1.0):
                _lines(c, img, [x0 + off], [y0], [x1 + off], [y1], col, steps=14)


class _Fire(_Layer):
    def setup(self, x=0.5, base=0.82, size=1.0, sparks=True):
        self.cx, self.base, self.size, self.sparks = (
            x * self.c.w,
            base * self.c.h,
            size * self.c.s,
            sparks,
        )
        rng = self.c.rng
        self.spark_x = rng.normal(0, 6, 40) * self.size
        self.spark_t = rng.uniform(0, 2.0, 40)
        self.spark_v = rng.uniform(20, 40, 40) * self.size

    def paint(self, bg):
        c = self.c
        for k in range(5):  # logs
            _lines(
                c,
                bg,
                [self.cx - 14 * self.size + k],
                [self.base + 2 * self.size],
                [self.cx + 14 * self.size - k],
                [self.base - 2 * self.size],
                _rgb("#3a2414"),
                steps=40,
            )

    def draw(self, img, t):
        c = self.c
        flick = (
            1.0
            + 0.18
            * np.sin(2 * np.pi * np.array([3.1, 4.7, 6.3, 8.9]) * t + np.array([0, 1, 2, 3])).sum()
            / 2
        )
        _glow(
            c,
            img,
            self.cx,
            self.base - 10 * self.size,
            40 * self.size,
            _rgb("#ff7a20"),
            0.25 * flick,
        )
        for i, (dx, h, col) in enumerate(
            ((0, 26, "#ff5a10"), (-5, 18, "#ff8a20"), (5, 20, "#ff8a20"), (0, 12, "#ffe070"))
        ):
            sway = 2.5 * self.size * np.sin(2 * np.pi * (1.3 + i) * t + i)
            hh = h * self.size * (0.85 + 0.15 * np.sin(2 * np.pi * (2.1 + 0.7 * i) * t + 2 * i))
            for k in (0.0, 0.3, 0.6, 0.9):
                _glow(
                    c,
                    img,
                    self.cx + dx * self.size + sway * k,
                    self.base - hh * k,
                    (7 - 5 * k) * self.size,
                    _rgb(col),
                    0.55,
                )
        if self.sparks:
            age = (t + self.spark_t) % 2.0
            _dots(
                c,
                img,
                self.cx + self.spark_x + 4 * np.sin(age * 5) * self.size,
                self.base - 20 * self.size - self.spark_v * age,
                _rgb("#ffc060"),
                np.clip(1 - age / 2.0, 0, 1),
            )


class _Lightning(_Layer):
    def setup(self, strikes=3):
        rng, c = self.c.rng, self.c
        self.times = np.sort(rng.uniform(0.8, max(1.0, c.duration - 1.0), strikes))
        self.paths = []
        for _ in range(strikes):
            x = rng.uniform(0.2, 0.8) * c.w
            ys = np.linspace(0, 0.7 * c.h, 14)
            xs = x + np.cumsum(rng.normal(0, 6 * c.s, 14))
            self.paths.append((xs, ys))

    def draw(self, img, t):
        for (xs, ys), t0 in zip(self.paths, self.times, strict=True):
            dt = t - t0
            if 0 <= dt < 0.35:
                flash = (1 - dt / 0.35) * (0.6 if dt < 0.1 or 0.18 < dt < 0.24 else 0.25)
                img += flash * _rgb("#c8d0ff")
                _lines(
                    self.c, img, xs[:-1], ys[:-1], xs[1:], ys[1:], _rgb("#ffffff"), 1.0, steps=10
                )


class _Leaves(_Layer):
    def setup(self, n=70, colours=("#d2691e", "#b22222", "#e0a020", "#8b4513"), speed=22.0):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(0, c.w, n)
        self.y0 = rng.uniform(0, c.h, n)
        self.v = rng.uniform(0.6, 1.4, n) * speed * c.s
        self.sway = rng.uniform(6, 16, n) * c.s
        self.f = rng.uniform(0.2, 0.5, n)
        self.ph = rng.uniform(0, 2 * np.pi, n)
        palette = np.array([_rgb(h) for h in colours])
        self.colour = palette[rng.integers(0, len(palette), n)]

    def draw(self, img, t):
        y = (self.y0 + self.v * t) % self.c.h
        x = (self.x0 + self.sway * np.sin(2 * np.pi * self.f * t + self.ph)) % self.c.w
        _dots(self.c, img, x, y, self.colour, 1.0, size=max(2, int(3 * self.c.s)))


class _Bubbles(_Layer):
    def setup(self, n=32, speed=25.0):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(0, c.w, n)
        self.y0 = rng.uniform(0, c.h, n)
        self.v = rng.uniform(0.5, 1.5, n) * speed * c.s
        self.r = rng.uniform(1.5, 4.0, n) * c.s
        self.ph = rng.uniform(0, 2 * np.pi, n)

    def paint(self, bg):
        c = self.c
        for k in range(6):  # light rays from the surface
            x = (0.1 + 0.16 * k) * c.w
            ray = np.exp(-((c.x - x - 0.35 * c.y) ** 2) / (2 * (6 * c.s) ** 2)) * (1 - c.y / c.h)
            bg += (0.12 * ray)[..., None] * _rgb("#9fd8ff")

    def draw(self, img, t):
        y = (self.y0 - self.v * t) % self.c.h
        x = self.x0 + 3 * self.c.s * np.sin(2 * np.pi * 0.8 * t + self.ph)
        for i in range(len(x)):
            _disc(self.c, img, x[i], y[i], self.r[i], _rgb("#bfeaff"), 0.35)
        _dots(self.c, img, x - self.r * 0.4, y - self.r * 0.4, _rgb("#ffffff"), 0.8)


class _Aurora(_Layer):
    def setup(self, colours=("#40ff9a", "#9a60ff"), bottom=0.6):
        self.colours = [_rgb(h) for h in colours]
        self.bottom = bottom
        self.u = self.c.x / self.c.w
        self.v = self.c.y / self.c.h

    def draw(self, img, t):
        rows = int(self.bottom * self.c.h)
        u, v = self.u[:rows], self.v[:rows]
        for i, col in enumerate(self.colours):
            centre = (
                0.25
                + 0.1 * i
                + 0.07 * np.sin(2 * np.pi * (u * (1.3 + 0.4 * i) + 0.05 * t * (1 + i)))
                + 0.03 * np.sin(2 * np.pi * (u * 4.0 - 0.1 * t))
            )
            band = np.exp(-(((v - centre) / (0.05 + 0.02 * i)) ** 2)) * (
                0.55 + 0.45 * np.sin(2 * np.pi * (u * 7 + 0.12 * t + i)) ** 2
            )
            img[:rows] += (0.55 * band)[..., None] * col


class _Spotlights(_Layer):
    def setup(self, n=4, colours=("#ff2080", "#20c0ff", "#a0ff20", "#ffb020"), strobe=True):
        self.cols = [_rgb(h) for h in colours[:n]]
        rng = self.c.rng
        self.src_x = np.linspace(0.15, 0.85, n) * self.c.w
        self.f = rng.uniform(0.15, 0.35, n)
        self.ph = rng.uniform(0, 2 * np.pi, n)
        self.strobe = strobe
        # Beams are soft: draw them at half resolution from precomputed angle fields.
        ys, xs = self.c.y[::2, ::2], self.c.x[::2, ::2]
        self.angles = [np.arctan2(xs - x, ys + 1.0) for x in self.src_x]
        self.falloff = 0.5 * (1 - 0.5 * ys / self.c.h)

    def draw(self, img, t):
        c = self.c
        beams = np.zeros(self.angles[0].shape + (3,), np.float32)
        for i, col in enumerate(self.cols):
            ang = 0.6 * np.sin(2 * np.pi * self.f[i] * t + self.ph[i])
            beam = np.clip(1 - np.abs(self.angles[i] - ang) / 0.12, 0, 1)
            beams += (beam * beam * self.falloff)[..., None] * col
        img.reshape(c.h // 2, 2, c.w // 2, 2, 3)[...] += beams[:, None, :, None, :]
        if self.strobe and (t * 124 / 60 * 2) % 2 < 0.15:  # a strobe on every other eighth note
            img += 0.25


class _Crowd(_Layer):
    """A band of heads that bob, e.g. the front of a dance floor or a stand."""

    def setup(self, top=0.78, n=60, bob=2.0, rate=2.07, colour="#141018"):
        rng, c = self.c.rng, self.c
        self.xs = np.linspace(0, c.w, n) + rng.normal(0, 2, n)
        self.base = top * c.h
        self.r = rng.uniform(4, 6, n) * c.s
        self.ph = rng.uniform(0, 2 * np.pi, n)
        self.bob, self.rate, self.colour = bob * c.s, rate, _rgb(colour)

    def draw(self, img, t):
        c = self.c
        ys = self.base - self.bob * np.abs(np.sin(np.pi * self.rate * t + self.ph))  # (n,)
        dx = c.x[0][None, :] - self.xs[:, None]  # (n, W)
        inside = np.clip(self.r[:, None] ** 2 - dx * dx, 0.0, None)
        heads = np.where(inside > 0, ys[:, None] - np.sqrt(inside), np.inf)
        shoulders = np.where(
            np.abs(dx) < 1.3 * self.r[:, None], ys[:, None] + 0.6 * self.r[:, None], np.inf
        )
        top = np.minimum(heads.min(axis=0), shoulders.min(axis=0))  # (W,)
        mask = c.y >= top[None, :]
        img[mask] = self.colour


class _Road(_Layer):
    """A straight road to a vanishing point, its centre dashes rushing towards the viewer."""

    def setup(self, horizon=0.55, speed=1.2):
        self.h0, self.speed = horizon, speed

    def paint(self, bg):
        c = self.c
        y0 = int(self.h0 * c.h)
        depth = (c.y[y0:] - y0 + 1) / (c.h - y0)
        road = np.abs(c.x[y0:] - c.w / 2) < depth * c.w * 0.45
        bg[y0:][~road] = _rgb("#1c1a28")
        bg[y0:][road] = _rgb("#2a2a30")

    def draw(self, img, t):
        c = self.c
        y0 = int(self.h0 * c.h)
        depth = (c.y[y0:] - y0 + 1) / (c.h - y0)
        z = 1.0 / depth
        dash = (np.sin(2 * np.pi * (z * 1.5 + self.speed * t * 3)) > 0.2) & (
            np.abs(c.x[y0:] - c.w / 2) < depth * 3 * c.s
        )
        img[y0:][dash] = _rgb("#f0e6a0")
        edge = np.abs(np.abs(c.x[y0:] - c.w / 2) - depth * c.w * 0.42) < depth * 2 * c.s
        img[y0:][edge] = _rgb("#d0d0d0")


class _Birds(_Layer):
    def setup(self, n=9, speed=28.0, colour="#201818"):
        rng, c = self.c.rng, self.c
        self.dx = rng.normal(0, 18, n) * c.s
        self.dy = rng.normal(0, 8, n) * c.s
        self.ph = rng.uniform(0, 2 * np.pi, n)
        self.speed, self.colour = speed * c.s, _rgb(colour)

    def draw(self, img, t):
        c = self.c
        cx = -30 * c.s + self.speed * t
        cy = 0.35 * c.h + 6 * c.s * np.sin(0.6 * t)
        x, y = cx + self.dx, cy + self.dy
        flap = 3 * c.s * np.sin(2 * np.pi * 3 * t + self.ph)
        span = 5 * c.s
        _lines(c, img, x - span, y - flap, x, y, self.colour, steps=8)
        _lines(c, img, x, y, x + span, y - flap, self.colour, steps=8)


class _Mountains(_Layer):
    def setup(self, ridges=("#6a7fa8", "#4a5f88", "#2e3f62"), top=0.35, snow=False):
        self.ridges, self.top, self.snow = [_rgb(h) for h in ridges], top, snow

    def paint(self, bg):
        c, rng = self.c, self.c.rng
        u = np.arange(c.w) / c.w
        for i, col in enumerate(self.ridges):
            base = self.top + 0.15 * i
            ridge = (
                base
                + 0.08 * np.sin(2 * np.pi * (u * rng.uniform(1, 2) + rng.random()))
                + 0.05 * np.abs(np.sin(2 * np.pi * u * rng.uniform(3, 6)))
            )
            mask = c.y / c.h > ridge[None, :]
            bg[mask] = col
            if self.snow and i == 0:  # snow caps on the far ridge's peaks
                peaks = ridge < np.quantile(ridge, 0.35)
                cap = mask & (c.y / c.h < ridge[None, :] + 0.06) & peaks[None, :]
                bg[cap] = 0.3 * bg[cap] + 0.7 * _rgb("#f0f4ff")


class _Clouds(_Layer):
    def setup(self, n=6, speed=8.0, colour="#ffffff", alpha=0.6, top=0.1, bottom=0.45):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(0, c.w, n)
        self.y = rng.uniform(top, bottom, n) * c.h
        self.r = rng.uniform(10, 20, n) * c.s
        self.v = rng.uniform(0.6, 1.4, n) * speed * c.s
        self.colour, self.alpha = _rgb(colour), alpha

    def draw(self, img, t):
        c = self.c
        span = c.w + 80 * c.s
        for x0, y, r, v in zip(self.x0, self.y, self.r, self.v, strict=True):
            x = (x0 + v * t) % span - 40 * c.s
            for dx, dy, k in ((-0.5 * r, 0.0, 0.8), (0.5 * r, r * 0.2, 0.7)):
                _glow(c, img, x + dx, y + dy, r * k * 0.7, self.colour, self.alpha * 0.6)


class _Meadow(_Layer):
    def setup(self, top=0.6, butterflies=10):
        rng, c = self.c.rng, self.c
        self.top = top
        self.fx = rng.uniform(0, c.w, 160)
        self.fy = rng.uniform(top * c.h + 4, c.h, 160)
        palette = np.array([_rgb(h) for h in ("#ff5a8a", "#ffe040", "#ffffff", "#b070ff")])
        self.fc = palette[rng.integers(0, len(palette), 160)]
        self.bx = rng.uniform(0, c.w, butterflies)
        self.by = rng.uniform(0.45, 0.8, butterflies) * c.h
        self.bph = rng.uniform(0, 2 * np.pi, butterflies)
        self.bc = palette[rng.integers(0, 2, butterflies)]

    def paint(self, bg):
        c = self.c
        y0 = int(self.top * c.h)
        k = np.linspace(0, 1, c.h - y0, dtype=np.float32)[:, None, None]
        bg[y0:] = _rgb("#78c850") * (1 - k) + _rgb("#3c8c28") * k
        _dots(c, bg, self.fx, self.fy, self.fc, 1.0, size=max(2, int(2 * c.s)))

    def draw(self, img, t):
        c = self.c
        x = (self.bx + 12 * c.s * np.sin(0.7 * t + self.bph) + 10 * c.s * t) % c.w
        y = self.by + 8 * c.s * np.sin(1.3 * t + 2 * self.bph)
        flap = np.abs(np.sin(2 * np.pi * 6 * t + self.bph)) * 2 * c.s
        _dots(c, img, x - flap, y, self.bc, 1.0, size=2)
        _dots(c, img, x + flap, y, self.bc, 1.0, size=2)


class _Warp(_Layer):
    def setup(self, n=260, speed=0.5):
        rng = self.c.rng
        self.ang = rng.uniform(0, 2 * np.pi, n)
        self.z0 = rng.uniform(0, 1, n)
        self.speed = speed
        self.tint = np.where(rng.random(n)[:, None] < 0.2, _rgb("#a0c0ff"), _rgb("#ffffff"))

    def draw(self, img, t):
        c = self.c
        z = (self.z0 + self.speed * t) % 1.0
        r = (z**3) * 1.2 * c.w * 0.6 + 2
        r_tail = ((np.clip(z - 0.05, 0, 1)) ** 3) * 1.2 * c.w * 0.6 + 2
        cx, cy = c.w / 2, c.h / 2
        x1, y1 = cx + r * np.cos(self.ang), cy + r * np.sin(self.ang)
        x0, y0 = cx + r_tail * np.cos(self.ang), cy + r_tail * np.sin(self.ang)
        _lines(c, img, x0, y0, x1, y1, self.tint.mean(axis=0), np.clip(z * 1.5, 0.1, 1), steps=8)


class _Candles(_Layer):
    def setup(self, xs=(0.4, 0.6), base=0.7):
        self.xs, self.base = xs, base

    def paint(self, bg):
        c = self.c
        bg[int(self.base * c.h + 18 * c.s) :] = _rgb("#3a1e10")  # the table
        for x in self.xs:
            x0 = int(x * c.w - 4 * c.s)
            bg[int(self.base * c.h) : int(self.base * c.h + 20 * c.s), x0 : x0 + int(8 * c.s)] = (
                _rgb("#efe6d2")
            )

    def draw(self, img, t):
        c = self.c
        for i, x in enumerate(self.xs):
            flick = (
                1
                + 0.12 * np.sin(2 * np.pi * (5.3 + i) * t)
                + 0.08 * np.sin(2 * np.pi * (9.1 + 2 * i) * t + i)
            )
            cx, cy = (
                x * c.w + 0.8 * c.s * np.sin(2 * np.pi * 1.7 * t + i),
                self.base * c.h - 5 * c.s,
            )
            _glow(c, img, cx, cy, 40 * c.s, _rgb("#ff9a40"), 0.22 * flick)
            _glow(c, img, cx, cy, 2.5 * c.s, _rgb("#ffd070"), 1.0)
            _glow(c, img, cx, cy - 3 * c.s * flick, 1.8 * c.s, _rgb("#fff0c0"), 1.0)


class _Court(_Layer):
    def setup(self, floor=0.6):
        rng, c = self.c.rng, self.c
        self.floor = floor
        self.px = rng.uniform(0.1, 0.9, 8) * c.w
        self.pv = rng.uniform(-40, 40, 8) * c.s
        self.team = np.arange(8) % 2
        self.bounce = 0.55  # seconds per dribble
        self.times: np.ndarray = np.arange(0.2, c.duration, self.bounce)

    def paint(self, bg):
        c, rng = self.c, self.c.rng
        y0 = int(self.floor * c.h)
        bg[:y0] = _rgb("#262a36")
        stand = bg[int(0.12 * c.h) : y0]
        dots = rng.random(stand.shape[:2]) < 0.4
        stand[dots] = stand[dots] * 0.6 + rng.uniform(0.1, 0.5, (int(dots.sum()), 3)).astype(
            np.float32
        )
        bg[y0:] = _rgb("#c8945a")
        bg[y0 + int(3 * c.s)] = _rgb("#ffffff")
        mid = int(c.w / 2)
        bg[y0:, mid : mid + 1] = _rgb("#ffffff")

    def draw(self, img, t):
        c = self.c
        x = (self.px + self.pv * t) % c.w
        feet = self.floor * c.h + 30 * c.s
        cols = np.where(self.team[:, None] == 0, _rgb("#e03030"), _rgb("#f0f0f0"))
        for i in range(len(x)):
            y_top = int(feet - 26 * c.s)
            img[y_top : int(feet), int(max(0, x[i] - 3 * c.s)) : int(max(0, x[i] + 3 * c.s))] = (
                cols[i]
            )
            _disc(c, img, x[i], y_top - 3 * c.s, 3 * c.s, _rgb("#8a5a3a"))
        carrier = int(t // 2.0) % len(x)
        phase = (t % self.bounce) / self.bounce
        ball_y = feet - 2 * c.s - 14 * c.s * (1 - (2 * phase - 1) ** 2)
        _disc(c, img, x[carrier] + 6 * c.s, ball_y, 2.6 * c.s, _rgb("#e06a10"))


class _WindowDrops(_Layer):
    def setup(self, n=40, bokeh=28):
        rng, c = self.c.rng, self.c
        self.bx = rng.uniform(0, c.w, bokeh)
        self.by = rng.uniform(0.3, 0.9, bokeh) * c.h
        self.br = rng.uniform(6, 16, bokeh) * c.s
        palette = np.array([_rgb(h) for h in ("#ffb050", "#ff5050", "#80c0ff", "#ffffff")])
        self.bc = palette[rng.integers(0, len(palette), bokeh)]
        self.dx = rng.uniform(0, c.w, n)
        self.dy0 = rng.uniform(0, c.h, n)
        self.dv = rng.uniform(5, 30, n) * c.s
        self.dr = rng.uniform(1.2, 2.8, n) * c.s

    def paint(self, bg):
        for x, y, r, col in zip(self.bx, self.by, self.br, self.bc, strict=True):
            _glow(self.c, bg, x, y, r * 0.6, col, 0.35)

    def draw(self, img, t):
        c = self.c
        y = (self.dy0 + self.dv * t) % (c.h + 10) - 5
        _lines(c, img, self.dx, y - 12 * c.s, self.dx, y, _rgb("#a0b0c0"), 0.25, steps=10)
        _dots(c, img, self.dx - 1, y - 1, _rgb("#c8d8e8"), 0.45, size=max(2, int(3 * c.s)))


class _Wheel(_Layer):
    def setup(self, cx=0.5, cy=0.45, radius=0.36, cars=12, speed=0.08):
        c = self.c
        self.cx, self.cy, self.r = cx * c.w, cy * c.h, radius * c.h
        self.n, self.speed = cars, speed
        palette = np.array(
            [_rgb(h) for h in ("#ff4060", "#ffd040", "#40e0ff", "#80ff60", "#ff80ff")]
        )
        self.lc = palette[np.arange(48) % len(palette)]

    def paint(self, bg):
        c = self.c
        _lines(
            c,
            bg,
            [self.cx, self.cx],
            [self.cy, self.cy],
            [self.cx - 0.4 * self.r, self.cx + 0.4 * self.r],
            [c.h, c.h],
            _rgb("#505868"),
            steps=80,
        )

    def draw(self, img, t):
        c = self.c
        a = 2 * np.pi * self.speed * t + np.arange(self.n) * 2 * np.pi / self.n
        xs, ys = self.cx + self.r * np.cos(a), self.cy + self.r * np.sin(a)
        _lines(
            c,
            img,
            np.full(self.n, self.cx),
            np.full(self.n, self.cy),
            xs,
            ys,
            _rgb("#8890a0"),
            0.8,
            steps=40,
        )
        ring = 2 * np.pi * self.speed * t + np.arange(48) * 2 * np.pi / 48
        on = (np.sin(8 * t + np.arange(48) * 0.9) > -0.3).astype(np.float32)
        _dots(
            c,
            img,
            self.cx + self.r * np.cos(ring),
            self.cy + self.r * np.sin(ring),
            self.lc,
            on,
            size=2,
        )
        for x, y in zip(xs, ys, strict=True):
            _disc(c, img, x, y + 4 * c.s, 3 * c.s, _rgb("#e05040"))


class _Neon(_Layer):
    def setup(self, signs=5):
        rng, c = self.c.rng, self.c
        palette = [_rgb(h) for h in ("#ff2aa0", "#20f0ff", "#b040ff", "#ff6020", "#40ff90")]
        self.signs = []
        for i in range(signs):
            x, y = rng.uniform(0.05, 0.8) * c.w, rng.uniform(0.1, 0.5) * c.h
            self.signs.append(
                (
                    x,
                    y,
                    rng.uniform(20, 50) * c.s,
                    rng.uniform(6, 12) * c.s,
                    palette[i % len(palette)],
                    rng.uniform(0, c.duration),
                )
            )

    def draw(self, img, t):
        c = self.c
        for x, y, w, h, col, t_off in self.signs:
            on = not (0 < (t - t_off) % 3.0 < 0.12)
            if not on:
                continue
            _glow(c, img, x + w / 2, y + h / 2, w * 0.6, col, 0.35)
            img[int(y) : int(y + h), int(x) : int(x + w)] = (
                img[int(y) : int(y + h), int(x) : int(x + w)] * 0.3 + col * 0.9
            )
            ry = int(0.8 * c.h + (0.8 * c.h - y) * 0.3)  # wet-street reflection
            if ry < c.h:
                sl = img[ry : min(c.h, ry + int(h * 2)), int(x) : int(x + w)]
                sl += (
                    0.25
                    * col
                    * (
                        0.6
                        + 0.4
                        * np.sin(
                            c.x[ry : ry + sl.shape[0], int(x) : int(x) + sl.shape[1]] * 0.8 + 6 * t
                        )
                    )[..., None]
                )


class _Lanterns(_Layer):
    def setup(self, n=30, speed=9.0):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(0, c.w, n)
        self.y0 = rng.uniform(0, c.h * 1.3, n)
        self.v = rng.uniform(0.5, 1.5, n) * speed * c.s
        self.size = rng.uniform(1.5, 3.5, n) * c.s
        self.ph = rng.uniform(0, 2 * np.pi, n)

    def draw(self, img, t):
        c = self.c
        y = (self.y0 - self.v * t) % (c.h * 1.3)
        x = self.x0 + 4 * c.s * np.sin(0.5 * t + self.ph)
        flick = 0.85 + 0.15 * np.sin(7 * t + self.ph)
        for xi, yi, s, k in zip(x, y, self.size, flick, strict=True):
            _glow(c, img, xi, yi, s * 1.5, _rgb("#ffb050"), 0.9 * k)


class _Foam(_Layer):
    """Dark rocks on the shore and white foam that bursts against them on every wave."""

    def setup(self, period=4.0, rocks_y=0.72):
        rng, c = self.c.rng, self.c
        self.period, self.rocks_y = period, rocks_y * c.h
        self.rx = rng.uniform(0.1, 0.9, 5) * c.w
        self.rr = rng.uniform(14, 26, 5) * c.s
        self.spray = rng.normal(0, 1, (120, 2))
        self.times = np.arange(period * 0.6, c.duration, period)

    def paint(self, bg):
        for x, r in zip(self.rx, self.rr, strict=True):
            _disc(self.c, bg, x, self.rocks_y + r * 0.4, r, _rgb("#1a1a1e"))

    def draw(self, img, t):
        c = self.c
        phase = (t % self.period) / self.period
        front = self.rocks_y + (1 - phase) * 30 * c.s
        img[int(front) : int(front + 4 * c.s)] += 0.5
        hit = (t - self.period * 0.6) % self.period
        if hit < 1.2:
            k = hit / 1.2
            for x, r in zip(self.rx, self.rr, strict=True):
                xs = x + self.spray[:, 0] * r * (0.5 + k)
                ys = self.rocks_y - np.abs(self.spray[:, 1]) * r * 1.6 * np.sin(np.pi * k) + r * 0.2
                _dots(c, img, xs, ys, _rgb("#ffffff"), 1 - k, size=2)


class _Confetti(_Layer):
    def setup(self, n=240, speed=30.0):
        rng, c = self.c.rng, self.c
        self.x0 = rng.uniform(0, c.w, n)
        self.y0 = rng.uniform(0, c.h, n)
        self.v = rng.uniform(0.6, 1.4, n) * speed * c.s
        self.ph = rng.uniform(0, 2 * np.pi, n)
        palette = np.array(
            [_rgb(h) for h in ("#ff3060", "#30d0ff", "#ffe030", "#60ff60", "#c060ff", "#ff9030")]
        )
        self.colour = palette[rng.integers(0, len(palette), n)]

    def draw(self, img, t):
        c = self.c
        y = (self.y0 + self.v * t) % c.h
        x = (self.x0 + 6 * c.s * np.sin(3 * t + self.ph)) % c.w
        spin = np.abs(np.sin(5 * t + self.ph))
        _dots(c, img, x, y, self.colour, 0.5 + 0.5 * spin, size=max(2, int(2 * c.s)))


@dataclass(frozen=True)
class _Look:
    sky: tuple[str, str]
    layers: tuple[tuple[type[_Layer], dict], ...]
    ambience: str


_LOOKS: dict[str, _Look] = {
    "sunset-sea": _Look(
        ("#3a2a6a", "#ff9a50"),
        (
            (
                _Sun,
                dict(colour="#ffb347", start=(0.5, 0.42), end=(0.5, 0.58), radius=16, horizon=0.6),
            ),
            (
                _Water,
                dict(
                    top=0.6,
                    colour="#c46a4a",
                    deep="#2a2050",
                    ripple=0.05,
                    speed=0.6,
                    light_x=0.5,
                    light="#ffd080",
                ),
            ),
            (_Clouds, dict(n=4, speed=4, colour="#ffb0a0", alpha=0.4, top=0.1, bottom=0.3)),
        ),
        "sea",
    ),
    "city-night-traffic": _Look(
        ("#05060f", "#241a3a"),
        (
            (_Stars, dict(n=40, bottom=0.3)),
            (_Skyline, dict(base=0.78, height=(0.25, 0.6))),
            (_Traffic, dict(y=0.86, n=16)),
        ),
        "city",
    ),
    "forest-rain": _Look(
        ("#3a4048", "#6a7480"),
        ((_Trees, dict(base=0.92, n=18)), (_Rain, dict(n=260, speed=300, alpha=0.3))),
        "rain",
    ),
    "fireworks": _Look(
        ("#02030a", "#0c1430"),
        (
            (_Stars, dict(n=50, bottom=0.5, twinkle=0.3)),
            (_Fireworks, dict(bursts=7)),
            (_Skyline, dict(base=0.8, height=(0.06, 0.16), lit=0.5, colour="#05050a")),
            (_Water, dict(top=0.8, colour="#101830", deep="#02040c", ripple=0.03, speed=0.8)),
        ),
        "fireworks",
    ),
    "runner-track": _Look(("#6aa8e8", "#cfe6ff"), ((_Runner, dict(y=0.8, speed=60)),), "crowd"),
    "snow-village": _Look(
        ("#0e1a30", "#3a4a6a"),
        (
            (_Ground, dict(top=0.82, colour="#e8eef8", far="#c8d4e8")),
            (
                _Skyline,
                dict(
                    base=0.83,
                    height=(0.12, 0.2),
                    colour="#1a1a28",
                    window="#ffc060",
                    lit=0.5,
                    houses=True,
                ),
            ),
            (_Snow, dict(n=300)),
        ),
        "wind",
    ),
    "desert-stars": _Look(
        ("#02040c", "#1a1838"),
        (
            (_Stars, dict(n=220, bottom=0.75, twinkle=0.6)),
            (_Moon, dict(x=0.78, y=0.22)),
            (_Ground, dict(top=0.76, colour="#3a2a1a", far="#1a1410")),
        ),
        "night",
    ),
    "campfire": _Look(
        ("#020204", "#0c0a10"),
        (
            (_Stars, dict(n=60, bottom=0.5)),
            (_Trees, dict(base=0.8, n=12, height=(0.3, 0.55), colour="#050806", far="#0a0e0c")),
            (_Ground, dict(top=0.8, colour="#140c08", far="#0a0806")),
            (_Fire, dict(x=0.5, base=0.84, size=1.0)),
        ),
        "fire",
    ),
    "thunderstorm": _Look(
        ("#1a1e26", "#3a4050"),
        (
            (_Clouds, dict(n=8, speed=14, colour="#0a0c10", alpha=0.8, top=0.0, bottom=0.3)),
            (_Ground, dict(top=0.8, colour="#14180e", far="#242a1c")),
            (_Lightning, dict(strikes=3)),
            (_Rain, dict(n=300, speed=380, slant=0.35, alpha=0.3)),
        ),
        "storm",
    ),
    "autumn-park": _Look(
        ("#88b0d8", "#e8d8b0"),
        (
            (_Trees, dict(base=0.85, n=10, height=(0.45, 0.7), colour="#8a3a10", far="#b0602a")),
            (_Ground, dict(top=0.85, colour="#6a4a20", far="#8a6a30")),
            (_Leaves, dict(n=80)),
        ),
        "wind",
    ),
    "underwater": _Look(("#1c6aa0", "#031830"), ((_Bubbles, dict(n=45)),), "underwater"),
    "northern-lights": _Look(
        ("#020614", "#0a1a2a"),
        (
            (_Stars, dict(n=120, bottom=0.65)),
            (_Aurora, dict(bottom=0.65)),
            (_Mountains, dict(ridges=("#0e1626",), top=0.55)),
            (_Ground, dict(top=0.78, colour="#a8b8d0", far="#6a7a98")),
        ),
        "wind",
    ),
    "dance-party": _Look(
        ("#06020c", "#140828"),
        ((_Spotlights, dict(n=4)), (_Crowd, dict(top=0.78, n=40, bob=3.0, rate=124 / 60))),
        "party",
    ),
    "highway-dusk": _Look(
        ("#2a1a5a", "#ff7aa0"),
        (
            (_Sun, dict(colour="#ffd06a", start=(0.5, 0.5), end=(0.5, 0.53), radius=18, glow=1.0)),
            (_Road, dict(horizon=0.55, speed=1.4)),
        ),
        "car",
    ),
    "birds-sunrise": _Look(
        ("#6a8ad8", "#ffb080"),
        (
            (_Sun, dict(colour="#fff0a0", start=(0.3, 0.62), end=(0.3, 0.5), radius=12)),
            (_Mountains, dict(ridges=("#6a9a6a", "#4a7a4a", "#2e5a32"), top=0.55)),
            (_Birds, dict(n=9, speed=40)),
        ),
        "birds",
    ),
    "mountain-clouds": _Look(
        ("#4a80c8", "#cfe0f4"),
        (
            (_Mountains, dict(top=0.35, snow=True)),
            (_Clouds, dict(n=7, speed=10, top=0.25, bottom=0.55)),
        ),
        "wind",
    ),
    "spring-meadow": _Look(
        ("#58a8f0", "#d8f0ff"),
        (
            (
                _Sun,
                dict(colour="#fff6c0", start=(0.85, 0.15), end=(0.84, 0.14), radius=10, glow=1.0),
            ),
            (_Clouds, dict(n=4, speed=6, top=0.1, bottom=0.3)),
            (_Meadow, dict(top=0.6, butterflies=10)),
        ),
        "birds",
    ),
    "space-journey": _Look(("#000004", "#04020c"), ((_Warp, dict(n=280, speed=0.45)),), "space"),
    "candlelit-dinner": _Look(
        ("#0a0404", "#1a0c08"), ((_Candles, dict(xs=(0.38, 0.62), base=0.62)),), "room"
    ),
    "basketball-game": _Look(("#1a1c24", "#262a36"), ((_Court, dict(floor=0.6)),), "crowd"),
    "rainy-window": _Look(
        ("#0a0c16", "#1a1c2a"),
        (
            (_WindowDrops, dict(n=40, bokeh=28)),
            (_Rain, dict(n=80, speed=120, length=6, slant=0.05, alpha=0.15)),
        ),
        "rain",
    ),
    "carnival-wheel": _Look(
        ("#06081a", "#1a1440"),
        (
            (_Stars, dict(n=50, bottom=0.4)),
            (_Wheel, dict()),
            (_Ground, dict(top=0.9, colour="#141018")),
        ),
        "carnival",
    ),
    "neon-street": _Look(
        ("#07040f", "#120a20"),
        (
            (
                _Skyline,
                dict(base=0.8, height=(0.4, 0.75), colour="#0a0812", window="#60e0ff", lit=0.15),
            ),
            (_Ground, dict(top=0.8, colour="#1a1424", far="#0c0a14")),
            (_Neon, dict(signs=6)),
            (_Rain, dict(n=150, speed=280, alpha=0.2, colour="#a080c0")),
        ),
        "rain",
    ),
    "lantern-festival": _Look(
        ("#050818", "#2a1838"),
        (
            (_Stars, dict(n=60, bottom=0.6)),
            (_Lanterns, dict(n=34)),
            (
                _Skyline,
                dict(base=0.92, height=(0.08, 0.14), houses=True, colour="#08060c", lit=0.3),
            ),
        ),
        "night",
    ),
    "waves-rocks": _Look(
        ("#5a6878", "#a8b4c0"),
        (
            (
                _Water,
                dict(top=0.5, colour="#40586a", deep="#1a2a38", ripple=0.1, speed=2.2, rough=1.8),
            ),
            (_Foam, dict(period=3.5, rocks_y=0.74)),
        ),
        "surf",
    ),
    "confetti-celebration": _Look(
        ("#2a0a3a", "#5a1a5a"),
        (
            (_Spotlights, dict(n=3, strobe=False)),
            (_Confetti, dict(n=260)),
            (_Crowd, dict(top=0.84, n=30, bob=2.0, rate=128 / 60)),
        ),
        "party",
    ),
}


def render_scene_video(
    scene: Scene,
    out_path,
    *,
    duration_s: float = 10.0,
    fps: int = 24,
    size: tuple[int, int] = (320, 180),
    seed: int = 0,
    crf: int = 23,
    preset: str = "ultrafast",
) -> Path:
    """Draw ``scene`` for ``duration_s`` seconds at ``fps`` and ``size`` (width, height, both
    even) and write it as a web-ready H.264 MP4 with faststart, with a quiet ambient "original
    audio" track (AAC, 48 kHz mono) that suits the scene: waves for the sea, rain for a rainy
    forest, booms in time with the fireworks, and so on."""
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"size must be even for H.264 yuv420p, got {width}x{height}")
    if duration_s <= 0 or fps <= 0:
        raise ValueError("duration_s and fps must be positive")
    look = _LOOKS.get(scene.key) or _look_for_description(scene)
    rng = np.random.default_rng(_stable_seed("video", scene.key, seed))
    canvas = _Canvas(width, height, duration_s, rng)
    layers = [cls(canvas, **params) for cls, params in look.layers]
    background = _sky(canvas, look.sky)
    for layer in layers:
        layer.paint(background)
    n_frames = int(round(duration_s * fps))

    def frames() -> Iterator[np.ndarray]:
        for i in range(n_frames):
            t = i / fps
            img = background.copy()
            for layer in layers:
                layer.draw(img, t)
            yield (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    audio = _ambience(look.ambience, layers, duration_s, AMBIENCE_SAMPLE_RATE, rng)
    return write_video(
        frames(),
        fps,
        out_path,
        audio=audio,
        sample_rate=AMBIENCE_SAMPLE_RATE,
        crf=crf,
        preset=preset,
    )


def _sky(c: _Canvas, colours: tuple[str, str]) -> np.ndarray:
    k = np.linspace(0.0, 1.0, c.h, dtype=np.float32)[:, None, None]
    top, bottom = _rgb(colours[0]), _rgb(colours[1])
    return np.broadcast_to(top * (1 - k) + bottom * k, (c.h, c.w, 3)).copy()


def _look_for_description(scene: Scene) -> _Look:
    """A look for a scene that is not in :data:`SCENES`, picked from its description's words."""
    words = set(_words(scene.description + " " + scene.video_caption))
    for key, keywords in (
        ("forest-rain", {"rain", "rainy", "storm"}),
        ("snow-village", {"snow", "winter", "snowy"}),
        ("fireworks", {"fireworks", "celebration"}),
        ("city-night-traffic", {"city", "traffic", "street", "cars"}),
        ("sunset-sea", {"sea", "ocean", "sunset", "beach", "lake"}),
        ("campfire", {"fire", "campfire", "flames"}),
        ("space-journey", {"space", "stars", "galaxy"}),
        ("dance-party", {"party", "dance", "dancing", "club"}),
    ):
        if words & keywords:
            return _LOOKS[key]
    return _LOOKS["mountain-clouds"]


# ---------------------------------------------------------------------------------------------
# Ambience: the clip's "original audio".


def _shaped_noise(
    rng: np.random.Generator, n: int, sr: int, lo: float, hi: float, tilt: float = 0.0
) -> np.ndarray:
    """White noise band-limited to about [lo, hi] Hz with a spectral tilt (dB/octave / 6)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1.0 / sr), 1.0)
    shape = 1.0 / np.sqrt(1.0 + (lo / f) ** 4) / np.sqrt(1.0 + (f / hi) ** 4) * (f / 1000.0) ** tilt
    x = np.fft.irfft(spec * shape, n)
    return (x / (np.sqrt(np.mean(x**2)) + 1e-12)).astype(np.float32)


def _drift(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """A smooth random curve in [0, 1] that changes about ``rate_hz`` times a second."""
    points = max(4, int(n / sr * rate_hz) + 3)
    knots = rng.random(points)
    curve = np.interp(np.linspace(0, points - 1, n), np.arange(points), knots)
    return (0.5 - 0.5 * np.cos(np.pi * curve)).astype(np.float32)


def _events(n: int, sr: int, times, sound: Callable[[int], np.ndarray], rng) -> np.ndarray:
    out = np.zeros(n, np.float32)
    for t in times:
        start = int(t * sr)
        if start >= n:
            continue
        s = sound(int(rng.integers(0, 2**31)))
        end = min(n, start + len(s))
        out[start:end] += s[: end - start]
    return out


def _decay_noise(
    sr: int, length_s: float, lo: float, hi: float, tau: float, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(length_s * sr)
    t = np.arange(n) / sr
    return _shaped_noise(rng, n, sr, lo, hi) * np.exp(-t / tau) * np.minimum(1.0, t / 0.004)


def _ambience(
    kind: str, layers: list[_Layer], duration: float, sr: int, rng: np.random.Generator
) -> np.ndarray:
    n = int(round(duration * sr))
    t = np.arange(n, dtype=np.float32) / sr
    noise = lambda lo, hi, tilt=0.0: _shaped_noise(rng, n, sr, lo, hi, tilt)  # noqa: E731
    times_of = lambda cls: next((lay.times for lay in layers if isinstance(lay, cls)), np.array([]))  # noqa: E731
    poisson = lambda rate: np.sort(rng.uniform(0, duration, rng.poisson(rate * duration)))  # noqa: E731

    if kind == "sea":
        swell = (0.5 + 0.5 * np.sin(2 * np.pi * t / 5.5 - 1.0)) ** 2
        x = noise(80, 2000, -0.5) * (0.25 + 0.75 * swell) + 0.2 * noise(2000, 9000)
    elif kind == "surf":
        swell = ((t % 3.5) / 3.5) ** 3
        x = noise(60, 3000, -0.3) * (0.3 + 0.9 * swell) + _events(
            n, sr, times_of(_Foam), lambda s: 1.5 * _decay_noise(sr, 1.5, 300, 6000, 0.4, s), rng
        )
    elif kind == "rain":
        drops = _events(
            n, sr, poisson(40), lambda s: 0.6 * _decay_noise(sr, 0.03, 1500, 8000, 0.006, s), rng
        )
        x = noise(700, 10000, -0.3) * (0.85 + 0.15 * _drift(rng, n, sr, 0.5)) + drops
    elif kind == "storm":
        thunder = _events(
            n,
            sr,
            times_of(_Lightning) + 0.6,
            lambda s: 4.0 * _decay_noise(sr, 3.0, 25, 250, 0.9, s),
            rng,
        )
        x = noise(700, 10000, -0.3) + 0.5 * noise(40, 300, -1.0) * _drift(rng, n, sr, 0.4) + thunder
    elif kind == "city":
        passes = _events(
            n,
            sr,
            poisson(0.8),
            lambda s: (
                1.2
                * _decay_noise(sr, 2.5, 150, 2500, 0.8, s)
                * np.sin(np.linspace(0, np.pi, int(2.5 * sr)))
            ),
            rng,
        )
        x = noise(30, 500, -1.0) * 1.2 + passes
    elif kind == "wind":
        x = noise(150, 1800, -0.5) * (0.2 + 0.8 * _drift(rng, n, sr, 0.4))
    elif kind == "fire":
        crackle = _events(
            n, sr, poisson(14), lambda s: 1.8 * _decay_noise(sr, 0.02, 1000, 9000, 0.003, s), rng
        )
        x = 0.6 * noise(40, 600, -0.8) * (0.7 + 0.3 * _drift(rng, n, sr, 3.0)) + crackle
    elif kind == "crowd":
        chatter = noise(250, 3500, -0.4) * (0.6 + 0.4 * _drift(rng, n, sr, 4.0))
        bounces = times_of(_Court)
        thuds = _events(
            n, sr, bounces, lambda s: 1.5 * _decay_noise(sr, 0.12, 60, 600, 0.03, s), rng
        )
        x = chatter + thuds
    elif kind == "birds":

        def chirp(s: int) -> np.ndarray:
            r = np.random.default_rng(s)
            length = r.uniform(0.05, 0.14)
            tt = np.arange(int(length * sr)) / sr
            f0, f1 = r.uniform(2500, 4500), r.uniform(3000, 6000)
            phase = 2 * np.pi * (f0 * tt + (f1 - f0) * tt**2 / (2 * length))
            return (0.9 * np.sin(phase) * np.sin(np.pi * tt / length) ** 2).astype(np.float32)

        x = 0.4 * noise(150, 1500, -0.5) * _drift(rng, n, sr, 0.3) + _events(
            n, sr, poisson(5), chirp, rng
        )
    elif kind == "night":
        pulse = (np.sin(2 * np.pi * 30 * t) > 0.3) & ((t % 0.9) < 0.25)
        crickets = 0.5 * np.sin(2 * np.pi * 4600 * t) * pulse
        x = 0.5 * noise(100, 1200, -0.5) * _drift(rng, n, sr, 0.3) + crickets.astype(np.float32)
    elif kind == "party":
        beat = np.arange(0.0, duration, 60 / 124)
        thump = _events(
            n,
            sr,
            beat,
            lambda s: (
                2.0
                * np.sin(2 * np.pi * 55 * np.arange(int(0.25 * sr)) / sr)
                * np.exp(-np.arange(int(0.25 * sr)) / sr / 0.07)
            ),
            rng,
        )
        x = thump + 0.5 * noise(300, 3000, -0.4) * (0.6 + 0.4 * _drift(rng, n, sr, 3.0))
    elif kind == "fireworks":
        booms = _events(
            n,
            sr,
            times_of(_Fireworks),
            lambda s: 4.0 * _decay_noise(sr, 1.5, 30, 400, 0.35, s),
            rng,
        )
        x = (
            0.3 * noise(150, 1500, -0.5) * _drift(rng, n, sr, 0.5)
            + booms
            + _events(
                n,
                sr,
                times_of(_Fireworks) + 0.3,
                lambda s: 0.8 * _decay_noise(sr, 1.0, 2000, 9000, 0.3, s),
                rng,
            )
        )
    elif kind == "underwater":
        x = noise(20, 400, -1.0) + _events(
            n,
            sr,
            poisson(3),
            lambda s: (
                0.6
                * np.sin(
                    2
                    * np.pi
                    * np.random.default_rng(s).uniform(400, 900)
                    * np.arange(int(0.06 * sr))
                    / sr
                    * (1 + np.arange(int(0.06 * sr)) / sr * 8)
                )
                * np.hanning(int(0.06 * sr))
            ),
            rng,
        )
    elif kind == "space":
        drone = (
            sum(np.sin(2 * np.pi * f * t + p) for f, p in ((55.0, 0.0), (82.7, 1.0), (110.3, 2.0)))
            / 3
        )
        x = drone * (0.6 + 0.4 * _drift(rng, n, sr, 0.3)) + 0.3 * noise(20, 300, -1.0)
    elif kind == "car":
        x = (
            noise(30, 400, -1.0) * 1.2
            + 0.3 * np.sin(2 * np.pi * 38 * t)
            + 0.3 * noise(500, 3000) * _drift(rng, n, sr, 0.2)
        )
    elif kind == "carnival":
        x = noise(250, 3500, -0.4) * (0.6 + 0.4 * _drift(rng, n, sr, 4.0)) + 0.2 * np.sin(
            2 * np.pi * 392 * t
        ) * (np.sin(2 * np.pi * 0.5 * t) > 0)
    else:  # "room": a quiet room tone
        x = noise(40, 400, -1.0) + 0.2 * noise(1000, 6000)
    x = np.asarray(x, np.float32)
    x *= np.float32(10 ** (AMBIENCE_RMS_DBFS / 20) / (np.sqrt(np.mean(x**2)) + 1e-12))
    fade = int(0.05 * sr)
    x[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
    x[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return np.clip(x, -1.0, 1.0)


# ---------------------------------------------------------------------------------------------
# The sketch generator: caption words -> parameters -> music.

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
        "strings string violin violins cello cellos viola orchestra orchestral cinematic symphonic pizzicato score".split()
    ),
    "synth": frozenset(
        "synth synths synthesizer synthesizers electronic edm techno synthwave futuristic cyberpunk arpeggio arpeggios organ organ-like".split()
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


def _words(text: str) -> list[str]:
    words = re.findall(r"[a-z]+(?:-[a-z]+)*", text.casefold())
    return words + [part for w in words if "-" in w for part in w.split("-")]


def _normalise_caption(caption: str) -> str:
    return " ".join(caption.split())


def _stable_seed(*parts) -> int:
    digest = hashlib.blake2b(
        "\x00".join(str(p) for p in parts).encode("utf-8"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")


def sketch_parameters(caption: str) -> dict:
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
    words = _words(text)
    bag = set(words)
    key_seed = _stable_seed("sketch-key", text.casefold())

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
    rng = np.random.default_rng(
        _stable_seed("sketch", _normalise_caption(caption).casefold(), seed)
    )
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
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def _reverb(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    length = int(1.2 * sr)
    t = np.arange(length) / sr
    ir = rng.standard_normal(length) * np.exp(-t / 0.35) * 0.04
    ir[: int(0.015 * sr)] = 0.0  # pre-delay
    return fftconvolve(x, ir)[: len(x)]


class _Song:
    """Renders a sketch: chords, bass, melody and drums on a bar grid."""

    def __init__(self, params: dict, sr: int, n: int, rng: np.random.Generator):
        self.p, self.sr, self.n, self.rng = params, sr, n, rng
        self.out = np.zeros(n, np.float64)
        self.beat = 60.0 / params["tempo_bpm"]
        self.scale = _SCALES[params["mode"]]
        self.tonic = 48 + params["tonic_pitch_class"]  # around C3

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
) -> np.ndarray:
    """ADSR over ``n`` samples; the note is held for ``length`` seconds, then released."""
    t = np.arange(n) / sr
    env = np.where(
        t < attack,
        t / max(attack, 1e-6),
        sustain + (1 - sustain) * np.exp(-(t - attack) / max(decay, 1e-6)),
    )
    rel = np.clip(1 - (t - length) / max(release, 1e-6), 0, 1)
    return env * np.where(t > length, rel, 1.0)


def _instrument(name: str, note: int, length: float, sr: int) -> np.ndarray:
    """One note of an instrument, ``length`` seconds held (plus its release)."""
    f = _midi_hz(note)
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
        x = sum(np.sin(2 * np.pi * f * d * t) for d in (1.0, 1.004, 0.996, 2.0)) / 3
        return x * _envelope(n, sr, 0.8, 1.0, 1.0, 0.9, length)
    if name == "synth":
        n = int((length + 0.15) * sr)
        t = np.arange(n) / sr
        x = sum(
            np.sin(2 * np.pi * f * d * k * t) / k * np.exp(-k / 5)
            for d in (0.996, 1.004)
            for k in range(1, 10)
            if f * k < sr / 2.2
        )
        return x * _envelope(n, sr, 0.01, 0.2, 0.6, 0.1, length) * 0.7
    if name == "guitar":
        n = int((length + 0.3) * sr)
        t = np.arange(n) / sr
        x = sum(
            np.sin(2 * np.pi * f * k * t) * np.exp(-t * (1.5 + 1.2 * k)) / k
            for k in range(1, 9)
            if f * k < sr / 2.2
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
