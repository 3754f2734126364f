"""The demo's content, made in Python: no model weights, no network.

* :data:`SCENES` (``scenes.json``): short scenes, each with a written description and captions of
  every kind the paper uses (video, music, fusion, MSI).
* :func:`render_scene_video`: a 10 s moving picture of a scene drawn with numpy (``canvas``,
  ``nature``, ``places``, ``painter``) with a quiet ambient "original audio" track that suits it
  (``ambience``), as a web-ready H.264 + AAC MP4.

The demo's music comes from the sketch generator, ``modeling.sketch``.
"""

from generation.democontent.painter import render_scene_video
from generation.democontent.scenes import SCENES, Scene, scene_by_key

__all__ = ["SCENES", "Scene", "render_scene_video", "scene_by_key"]
