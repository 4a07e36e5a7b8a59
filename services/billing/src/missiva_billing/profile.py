"""The billing profile and its rules, without I/O: who invoices are made out to.

Every field is checked on its own and named when wrong (``InvalidArgument.field``):

- ``vat_number``: for an EU country (``address.country_code``) a VAT number of that country,
  format and check digits checked by ``python-stdnum`` (``stdnum.eu.vat``; Italian partita
  IVA through ``stdnum.it.iva``), kept compact with its country prefix (``IT01234567890``;
  Greece is ``EL``). Outside the EU it is kept as given (letters and digits, at most 30):
  no register to check it against, and it only appears on the invoice.
- ``tax_code`` (codice fiscale): Italian customers only; a person's 16-character code
  (``stdnum.it.codicefiscale``, check character included) or a company's 11-digit one
  (the partita IVA's rules).
- ``sdi_code``: 7 letters or digits (the SDI recipient code of private parties, ``0000000``
  when the invoice goes by PEC or to a private person); ``pec`` and ``invoice_email`` are
  email addresses; ``rea_number`` is the register office's province and the number
  (``MI-1234567``).
- Address: an ISO 3166-1 alpha-2 country; for Italy a 5-digit postal code and a 2-letter
  province, as the FatturaPA needs them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import datetime

from stdnum import exceptions as stdnum_errors
from stdnum.eu import vat as eu_vat
from stdnum.it import codicefiscale, iva

from missiva_platform.errors import InvalidArgument
from missiva_platform.validation import has_control_characters, valid_email

# EU member states by their ISO code; VAT numbers use the same prefix except Greece (EL).
EU_COUNTRIES = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"}
    | {"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
)
_VAT_PREFIX = {"GR": "EL"}
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_FOREIGN_VAT = re.compile(r"^[A-Z0-9]{2,30}$")
_SDI = re.compile(r"^[A-Z0-9]{7}$")
_REA = re.compile(r"^([A-Z]{2})-?([0-9A-Z]{1,20})$")
_CAP = re.compile(r"^[0-9]{5}$")
_PROVINCE = re.compile(r"^[A-Z]{2}$")
NO_SDI_CODE = "0000000"

# Longest text per field (the FatturaPA's limits where it has one).
_MAX = {
    "business_name": 80,
    "legal_form": 40,
    "address.line1": 60,
    "address.line2": 60,
    "address.city": 60,
    "address.province": 2,
    "address.postal_code": 10,
}


@dataclass(frozen=True)
class Profile:
    """A billing profile in clear (tax fields decrypted)."""

    business_name: str = ""
    legal_form: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    province: str = ""
    postal_code: str = ""
    country_code: str = ""
    vat_number: str = ""
    tax_code: str = ""
    sdi_code: str = ""
    pec: str = ""
    rea_number: str = ""
    invoice_email: str = ""
    updated_at: datetime | None = None

    @property
    def is_italian(self) -> bool:
        return self.country_code == "IT"

    @property
    def in_eu(self) -> bool:
        return self.country_code in EU_COUNTRIES

    @property
    def is_business(self) -> bool:
        """A customer with a VAT number is a business (B2B); without one, a private person."""
        return bool(self.vat_number)

    def changed(self, **values: str) -> Profile:
        return replace(self, **values)  # type: ignore[arg-type]


PROFILE_FIELDS = tuple(f.name for f in fields(Profile) if f.name != "updated_at")

# Update-mask paths and the profile fields each one covers.
MASK_PATHS: dict[str, tuple[str, ...]] = {
    "business_name": ("business_name",),
    "legal_form": ("legal_form",),
    "address": ("line1", "line2", "city", "province", "postal_code", "country_code"),
    "address.line1": ("line1",),
    "address.line2": ("line2",),
    "address.city": ("city",),
    "address.province": ("province",),
    "address.postal_code": ("postal_code",),
    "address.country_code": ("country_code",),
    "vat_number": ("vat_number",),
    "tax_code": ("tax_code",),
    "sdi_code": ("sdi_code",),
    "pec": ("pec",),
    "rea_number": ("rea_number",),
    "invoice_email": ("invoice_email",),
}
_FIELD_PATH = {
    "line1": "address.line1",
    "line2": "address.line2",
    "city": "address.city",
    "province": "address.province",
    "postal_code": "address.postal_code",
    "country_code": "address.country_code",
}


def field_path(name: str) -> str:
    """The request path of a profile field (``city`` is ``profile.address.city``)."""
    return f"profile.{_FIELD_PATH.get(name, name)}"


def masked_fields(paths: list[str]) -> tuple[str, ...]:
    """The profile fields an update mask names (an empty mask: every field)."""
    if not paths:
        return PROFILE_FIELDS
    chosen: list[str] = []
    for path in paths:
        covered = MASK_PATHS.get(path.removeprefix("profile."))
        if covered is None:
            raise InvalidArgument.field("update_mask", f"{path!r} is not a billing profile field")
        chosen.extend(name for name in covered if name not in chosen)
    return tuple(chosen)


def _text(name: str, value: str) -> str:
    value = value.strip()
    if has_control_characters(value):
        raise InvalidArgument.field(field_path(name), "must not contain control characters")
    limit = _MAX.get(_FIELD_PATH.get(name, name))
    if limit is not None and len(value) > limit:
        raise InvalidArgument.field(field_path(name), f"is longer than {limit} characters")
    return value


def _compact(value: str) -> str:
    return re.sub(r"[\s.\-/]", "", value).upper()


def vat_number(value: str, country: str) -> str:
    """The compact VAT number of a customer in ``country``, check digits checked in the EU."""
    path = field_path("vat_number")
    number = _compact(value)
    if not number:
        return ""
    if not country:
        raise InvalidArgument.field(path, "needs address.country_code to be checked")
    if country not in EU_COUNTRIES:
        if not _FOREIGN_VAT.match(number):
            raise InvalidArgument.field(path, "must be 2 to 30 letters and digits")
        return number
    prefix = _VAT_PREFIX.get(country, country)
    if number[:2].isalpha() and number[:2] != prefix:
        raise InvalidArgument.field(path, f"is not a VAT number of {country} (prefix {prefix})")
    if not number[:2].isalpha():
        number = prefix + number
    try:
        return str(eu_vat.validate(number))
    except stdnum_errors.InvalidChecksum:
        raise InvalidArgument.field(path, "has a wrong check digit") from None
    except stdnum_errors.ValidationError:
        raise InvalidArgument.field(path, f"is not a valid VAT number of {country}") from None


def tax_code(value: str, country: str) -> str:
    """An Italian codice fiscale: a person's 16 characters or a company's 11 digits."""
    path = field_path("tax_code")
    code = _compact(value)
    if not code:
        return ""
    if country != "IT":
        raise InvalidArgument.field(path, "is the Italian codice fiscale: for Italy only")
    try:
        if len(code) == 11 and code.isdigit():
            return str(iva.validate(code))
        return str(codicefiscale.validate(code))
    except stdnum_errors.InvalidChecksum:
        raise InvalidArgument.field(path, "has a wrong check character") from None
    except stdnum_errors.ValidationError:
        raise InvalidArgument.field(path, "is not a valid codice fiscale") from None


def rea_number(value: str) -> str:
    text = _compact(value)
    if not text:
        return ""
    found = _REA.match(text)
    if found is None:
        raise InvalidArgument.field(
            field_path("rea_number"), "must be the office's province and number, e.g. MI-1234567"
        )
    return f"{found.group(1)}-{found.group(2)}"


def checked(profile: Profile) -> Profile:
    """``profile`` with every field normalised, or INVALID_ARGUMENT naming the first bad one."""
    values = {name: _text(name, getattr(profile, name)) for name in PROFILE_FIELDS}
    country = values["country_code"].upper()
    if country and not _COUNTRY.match(country):
        raise InvalidArgument.field(
            field_path("country_code"), "must be an ISO 3166-1 alpha-2 code, e.g. IT"
        )
    values["country_code"] = country
    values["province"] = values["province"].upper()
    if country == "IT":
        if values["postal_code"] and not _CAP.match(values["postal_code"]):
            raise InvalidArgument.field(field_path("postal_code"), "must be 5 digits in Italy")
        if values["province"] and not _PROVINCE.match(values["province"]):
            raise InvalidArgument.field(field_path("province"), "must be a 2-letter code, e.g. MI")
    values["vat_number"] = vat_number(values["vat_number"], country)
    values["tax_code"] = tax_code(values["tax_code"], country)
    sdi = values["sdi_code"].upper()
    if sdi and not _SDI.match(sdi):
        raise InvalidArgument.field(field_path("sdi_code"), "must be 7 letters or digits")
    values["sdi_code"] = sdi
    for name in ("pec", "invoice_email"):
        if values[name]:
            values[name] = valid_email(field_path(name), values[name])
    values["rea_number"] = rea_number(values["rea_number"])
    return Profile(**values, updated_at=profile.updated_at)


def merged(current: Profile, given: Profile, names: tuple[str, ...]) -> Profile:
    """``current`` with the ``names`` fields taken from ``given``, then checked as a whole."""
    return checked(current.changed(**{name: getattr(given, name) for name in names}))


def invoice_problem(profile: Profile) -> tuple[str, str] | None:
    """What a profile lacks to be invoiced (a field and why), or None when it is complete."""
    if not profile.business_name:
        return field_path("business_name"), "is required to issue an invoice"
    if not profile.country_code:
        return field_path("country_code"), "is required to issue an invoice"
    if profile.is_italian:
        for name in ("line1", "city", "postal_code", "province"):
            if not getattr(profile, name):
                return field_path(name), "is required for an Italian invoice"
        if not profile.vat_number and not profile.tax_code:
            return field_path("tax_code"), "an Italian customer needs a VAT number or tax code"
    return None
