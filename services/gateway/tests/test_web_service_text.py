"""The services' English texts in the page's language (``web/service_text.py``), without a
platform: the table's exact texts and patterns, the pieces of a joined message, the fallback."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from missiva_gateway.errors import precondition_types
from missiva_gateway.web.i18n import translations
from missiva_gateway.web.problems import FormProblem
from missiva_gateway.web.service_text import EXACT, localise

IT = translations("it").gettext
EN = translations("en").gettext


def test_known_texts_are_translated_and_unknown_ones_stay_as_the_service_wrote_them() -> None:
    assert localise("is required", IT) == "campo obbligatorio"
    assert localise("email or password is incorrect", IT) == "email o password non corrette"
    assert localise("must be at least 12 characters", IT) == "deve avere almeno 12 caratteri"
    assert localise("is not an email address (The domain x does not exist.)", IT) == (
        "non è un indirizzo email valido"
    )
    assert (
        localise("Newsletter cannot be turned off", IT) == "Newsletter non può essere disattivato"
    )
    assert localise("a text no table knows", IT) == "a text no table knows"
    assert localise("", IT) == ""


def test_english_pages_keep_the_original_text_with_its_details() -> None:
    assert localise("is not an email address (The domain x does not exist.)", EN) == (
        "is not an email address (The domain x does not exist.)"
    )
    assert localise("must be at least 12 characters", EN) == "must be at least 12 characters"


def test_every_exact_text_has_a_translation() -> None:
    assert all(IT(text) != text for text in EXACT)


def test_a_joined_message_is_translated_piece_by_piece() -> None:
    joined = "template.subject: is required; x.y: something new"
    assert localise(joined, IT) == "template.subject: campo obbligatorio; x.y: something new"


def test_a_form_problem_is_shown_localised_and_the_original_is_untouched() -> None:
    problem = FormProblem(400, "is too long", {"name": "is required"})
    shown = problem.localised(IT)
    assert (shown.message, shown.fields) == ("testo troppo lungo", {"name": "campo obbligatorio"})
    assert problem.fields == {"name": "is required"}


class _Refusal(grpc.RpcError):
    def __init__(self, status: status_pb2.Status) -> None:
        self._status = status

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return (("grpc-status-details-bin", self._status.SerializeToString()),)


def test_precondition_types_are_read_from_the_rich_status() -> None:
    failure = error_details_pb2.PreconditionFailure(
        violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type="ACCOUNT_DELETION_REQUESTED", subject="account", description="restore"
            )
        ]
    )
    packed = any_pb2.Any()
    packed.Pack(failure)
    status = status_pb2.Status(code=9, message="scheduled for deletion", details=[packed])
    assert precondition_types(_Refusal(status)) == {"ACCOUNT_DELETION_REQUESTED"}
    assert precondition_types(_Refusal(status_pb2.Status(code=9))) == set()
