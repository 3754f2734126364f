"""The MusiScene rating study as an oTree app, for benchmarks/otree_baseline.py: consent,
instructions, one practice item, 15 trials (a video with 3 soundtracks, a 0-100 slider and a
listening time per soundtrack), a short questionnaire and a completion page.

One round per trial (oTree's way of repeating a page): consent, instructions and the practice
item are shown in round 1, the questionnaire and the completion page in the last round. Each
participant sees 15 of 16 clips in an order of their own and the 3 soundtracks of each clip in an
order of their own, drawn when the session is created. Media come from a CDN in production, as
in MusiScene Studio; the benchmark does not fetch them."""

import random

from otree.api import BaseConstants, BaseGroup, BasePlayer, BaseSubsession, Page, models, widgets


class C(BaseConstants):
    NAME_IN_URL = "rating"
    PLAYERS_PER_GROUP = None
    NUM_ROUNDS = 15
    CLIPS = [f"clip-{i:03d}" for i in range(16)]
    CONDITIONS = ["video_caps", "music_caps", "msi"]
    LABELS = ["A", "B", "C"]
    MIN_LISTEN_S = 1.0
    MEDIA_URL = "https://media.example.org/bench"
    COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc=BENCH"


class Subsession(BaseSubsession):
    pass


class Group(BaseGroup):
    pass


def _rating(label):
    return models.IntegerField(min=0, max=100, label=f"Soundtrack {label}")


def _listening():
    return models.FloatField(min=0)


class Player(BasePlayer):
    consent = models.StringField(
        choices=[["yes", "I agree to take part"]],
        widget=widgets.RadioSelect,
        label="Consent",
    )
    clip = models.StringField()
    track_order = models.StringField()  # the conditions behind soundtracks A, B, C
    rating_1 = _rating("A")
    rating_2 = _rating("B")
    rating_3 = _rating("C")
    listening_1 = _listening()
    listening_2 = _listening()
    listening_3 = _listening()
    age_range = models.StringField(
        blank=True, choices=["18-24", "25-34", "35-44", "45-54", "55-64", "65+"], label="Age"
    )
    device = models.StringField(
        blank=True,
        choices=[
            ["headphones", "Headphones"],
            ["earbuds", "Earbuds"],
            ["speakers", "Loudspeakers"],
            ["phone", "Phone speaker"],
        ],
        label="What did you listen with?",
    )
    music_training = models.StringField(
        blank=True,
        choices=[
            ["none", "None"],
            ["some", "Some (less than 5 years)"],
            ["trained", "5 years or more"],
            ["professional", "Professional"],
        ],
        label="Musical training",
    )
    comment = models.LongStringField(blank=True, max_length=2000, label="Comments")


def creating_session(subsession: Subsession):
    for player in subsession.get_players():
        participant = player.participant
        rng = random.Random(f"{subsession.session.code}-{participant.id_in_session}")
        if subsession.round_number == 1:
            participant.clip_order = rng.sample(C.CLIPS, C.NUM_ROUNDS)
        player.clip = participant.clip_order[subsession.round_number - 1]
        rng.seed(f"{participant.code}-{subsession.round_number}")
        player.track_order = ",".join(rng.sample(C.CONDITIONS, len(C.CONDITIONS)))


def _tracks(player: Player):
    return [
        dict(
            n=i + 1,
            label=C.LABELS[i],
            audio_url=f"{C.MEDIA_URL}/{player.clip}/{condition}.m4a",
        )
        for i, condition in enumerate(player.track_order.split(","))
    ]


# PAGES


class Consent(Page):
    form_model = "player"
    form_fields = ["consent"]

    @staticmethod
    def is_displayed(player: Player):
        return player.round_number == 1


class Instructions(Page):
    @staticmethod
    def is_displayed(player: Player):
        return player.round_number == 1


class Practice(Page):
    """One item to try the sliders on; nothing is stored, as in MusiScene Studio."""

    @staticmethod
    def is_displayed(player: Player):
        return player.round_number == 1

    @staticmethod
    def vars_for_template(player: Player):
        return dict(
            named=False,
            video_url=f"{C.MEDIA_URL}/practice/video.mp4",
            tracks=[
                dict(n=i + 1, label=label, audio_url=f"{C.MEDIA_URL}/practice/{label}.m4a")
                for i, label in enumerate(C.LABELS)
            ],
        )


class Trial(Page):
    form_model = "player"
    form_fields = [
        "rating_1",
        "rating_2",
        "rating_3",
        "listening_1",
        "listening_2",
        "listening_3",
    ]

    @staticmethod
    def vars_for_template(player: Player):
        return dict(
            named=True,
            video_url=f"{C.MEDIA_URL}/{player.clip}/video.mp4",
            tracks=_tracks(player),
            min_listen_s=C.MIN_LISTEN_S,
        )

    @staticmethod
    def error_message(player: Player, values):
        short = [
            C.LABELS[i] for i in range(3) if (values[f"listening_{i + 1}"] or 0) < C.MIN_LISTEN_S
        ]
        if short:
            return "Please listen to soundtrack " + ", ".join(short) + " a little longer."


class Questionnaire(Page):
    form_model = "player"
    form_fields = ["age_range", "device", "music_training", "comment"]

    @staticmethod
    def is_displayed(player: Player):
        return player.round_number == C.NUM_ROUNDS


class Completion(Page):
    @staticmethod
    def is_displayed(player: Player):
        return player.round_number == C.NUM_ROUNDS

    @staticmethod
    def vars_for_template(player: Player):
        return dict(completion_url=C.COMPLETION_URL)


page_sequence = [Consent, Instructions, Practice, Trial, Questionnaire, Completion]
