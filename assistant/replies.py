"""Canned replies, translated like every other user-facing string."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

EMPTY_QUESTION = _("Please type a question.")
QUESTION_TOO_LONG = _("Your question is too long. Please use at most %(limit)s characters.")
NOT_FOUND = _(
    "I could not find this on the guichet. Please contact the Guichet helpdesk: "
    "they will help you or tell you who is responsible."
)
MODEL_UNAVAILABLE = _(
    "The assistant cannot write an answer right now. The pages below are the most relevant "
    "we found; the Guichet helpdesk can also help you."
)
INDEX_UNAVAILABLE = _(
    "The knowledge base is not available right now. Please try again in a few minutes or contact the Guichet helpdesk."
)
# Shown with the pages when the model's text cannot be shown: the pages are the closest found, which
# does not mean they hold the answer (the question may have none on the guichet).
CITATIONS_FAILED = _(
    "Sorry, I could not write a reliable answer. These are the official pages closest to your question; "
    "the Guichet helpdesk can also help you:"
)
EXCERPT_INSTEAD = _(
    "Sorry, I could not write a reliable answer. This passage of an official page is the closest "
    "to your question, quoted word for word:"
)
EXCERPT_OTHER_PAGES = _("All the official pages found:")
# Shown while the model reads the best page again after finding no answer in all of them.
SECOND_LOOK = _("Reading the most relevant page again…")
GREETING = _(
    "Hello! Ask me about public services in Luxembourg, for example how to register at your commune "
    "or exchange a driving licence."
)
THANKS = _("You are welcome. Do you have another question about public services?")
CRISIS = _(
    "If you or someone else is in danger, call 112 (emergency services) or 113 (police) now. "
    "If you are in distress or thinking about suicide, you can talk to SOS Détresse, anonymously, "
    "on 45 45 45. Children and young people can call the Kanner-Jugendtelefon on 116 111."
)
PERSONAL_DATA = _(
    "Your question seems to contain personal data (%(kinds)s). Please remove it and ask again: "
    "the assistant does not need it to answer, and it is not kept."
)
PII_KIND_LABELS = {
    "email": _("an e-mail address"),
    "phone": _("a phone number"),
    "iban": _("an IBAN"),
    "card": _("a payment card number"),
    "national_id": _("a national identification number"),
}
ANSWER_TIMED_OUT = _(
    "The answer took too long and was stopped here. Please try again, or contact the Guichet helpdesk."
)
ANSWER_IN_OTHER_LANGUAGE = _("I cannot write answers in your language yet, so here is the answer in %(language)s:")
RATE_LIMITED = _("You have asked many questions in a short time. Please wait a few minutes and try again.")
ANSWER_PENDING = _("Please wait for the answer to your previous question before asking another one.")
BUSY = _("The assistant is very busy right now. Please try again in a minute.")
