"""One definition of an email address and of acceptable text, for every service."""

import pytest

from missiva.common.v1 import types_pb2
from missiva.consent.v1 import consent_service_pb2 as consent_pb
from missiva.delivery.v1 import delivery_service_pb2 as delivery_pb
from missiva_platform.crypto import EmailHasher
from missiva_platform.errors import InvalidArgument
from missiva_platform.validation import bad_text, check_text, valid_email


@pytest.mark.parametrize(
    "address",
    [
        "a@b.c\x00d",  # NUL
        "<x@y.z>",  # angle brackets
        "Ada <ada@example.org>",  # a display name
        "x@localhost",  # not a domain on the internet
        "x\u200b@example.org",  # a zero-width space
        "x..y@z.org",  # two dots in a row
        "x@[127.0.0.1]",  # a domain literal
        '"quoted"@example.org',
        "no-at-sign.example.org",
        "two@@example.org",
        "a@" + "b" * 250 + ".org",  # too long
        "",
        "   ",
    ],
)
def test_what_is_not_an_address_is_refused_naming_the_field(address):
    with pytest.raises(InvalidArgument) as caught:
        valid_email("person.email", address)
    assert caught.value.violations[0][0] == "person.email"


def test_an_address_is_returned_in_the_canonical_form_the_person_key_is_made_of():
    assert valid_email("email", "  Ada@Example.COM ") == "ada@example.com"
    assert valid_email("email", "j@Bücher.example") == "j@xn--bcher-kva.example"
    hasher = EmailHasher(b"k" * 32)
    assert hasher.person_key(valid_email("email", "Ada@Example.COM")) == hasher.person_key(
        "ada@example.com"
    )


def test_control_characters_are_found_in_nested_repeated_and_map_fields():
    clean = delivery_pb.SendTransactionalRequest(
        idempotency_key="k-1",
        to_address="ada@example.org",
        variables={"name": "Ada\tLovelace\r\n"},  # tab and line breaks are text
    )
    assert bad_text(clean) is None
    check_text(clean)

    assert bad_text(delivery_pb.SendTransactionalRequest(to_name="Ada\x00")) == "to_name"
    assert bad_text(delivery_pb.SendTransactionalRequest(variables={"x": "a\x1bb"})) == (
        "variables['x']"
    )
    assert bad_text(delivery_pb.SendTransactionalRequest(variables={"\x7f": "a"})) == (
        "variables['\\x7f']"
    )
    nested = consent_pb.RecordConsentRequest(person=types_pb2.PersonRef(email="a@b.org\x00"))
    assert bad_text(nested) == "person.email"
    with pytest.raises(InvalidArgument) as caught:
        check_text(nested)
    assert caught.value.violations == [("person.email", "contains a control character")]


def test_a_c1_control_character_is_refused_and_ordinary_unicode_is_not():
    assert (
        bad_text(delivery_pb.SendTransactionalRequest(to_name="caf\u00e9 \u2014 \U0001f600"))
        is None
    )
    assert bad_text(delivery_pb.SendTransactionalRequest(to_name="x\u0085y")) == "to_name"
