"""The texts the participant pages' scripts show, translated on the server and embedded in the
page as JSON (``{% page_texts %}``): no catalog request, and the page stays cacheable per
language. Counts take their plural form here: ``secondsLeft[n]`` is the text for n seconds."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

#: The longest must-hear countdown a page carries plural forms for; longer counts use the last.
MAX_COUNTDOWN_S = 600


def _common() -> dict[str, object]:
    return {
        "saving": _("Saving…"),
        "wait": _("Please take a little more time."),
        # followed by the server's reason or the HTTP status
        "error": _("Error"),
    }


def trial_texts(max_required_s: float) -> dict[str, object]:
    n_max = min(MAX_COUNTDOWN_S, max(1, int(max_required_s) + 1))
    return {
        **_common(),
        "offline": _("No connection. Your ratings are kept and will be sent again…"),
        "moveAll": _("Move every slider to give your rating."),
        "audioError": _("This soundtrack could not be played. Please reload the page."),
        "notRated": _("not rated yet"),
        "secondsLeft": [
            ngettext(
                "listen %(n)s second more to unlock the slider",
                "listen %(n)s seconds more to unlock the slider",
                n,
            )
            for n in range(n_max + 1)
        ],
        "heard": _("heard"),
        "stale": _(
            "This video was saved already (perhaps in another window). Press Go on to continue."
        ),
        "ended": _(
            "This session has ended, so these ratings could not be saved. Press Go on to see "
            "where you are."
        ),
        "moved": _(
            "The study is at another page than this one, so these ratings were not saved. They "
            "are kept here; press Go on to continue where the study is."
        ),
        "closed": _("This study has closed, so these ratings could not be saved."),
        "noSession": _(
            "Your session was not found, so these ratings could not be saved. Please open the "
            "study link again."
        ),
        "notStored": _("These ratings could not be saved:"),
    }


def annotation_texts() -> dict[str, object]:
    return {
        **_common(),
        "offline": _("No connection. Your text is kept and will be sent again…"),
        "short": _("Please write a little more."),
        "audioError": _("The music could not be played. Please reload the page."),
        "stale": _(
            "This clip was saved already (perhaps in another window). Press Go on to continue."
        ),
        "ended": _(
            "This session has ended, so this text could not be saved. Press Go on to see where "
            "you are."
        ),
        "moved": _(
            "The study is at another page than this one, so this text was not saved. It is kept "
            "here; press Go on to continue where the study is."
        ),
        "closed": _("This study has closed, so this text could not be saved."),
        "noSession": _(
            "Your session was not found, so this text could not be saved. Please open the study "
            "link again."
        ),
        "notStored": _("This text could not be saved:"),
    }
