"""One strict syntax for e-mail addresses, kept as typed, one mailbox for the limits and the
envelope (issue 21.2): what an SMTP client would read as another address is refused."""

from __future__ import annotations

from email.utils import parseaddr

import pytest
from aiosmtplib.email import quote_address
from hypothesis import given
from hypothesis import strategies as st

from parlour.domain.addresses import EMAIL_PATTERN, MAX_ADDRESS, mailbox, parse_email
from parlour.domain.events import Actor
from parlour.errors import InvalidInput
from parlour.services.bookings.records import (
    MAX_NAME,
    MAX_PHONE,
    NAME_PATTERN,
    PHONE_PATTERN,
    ClientDetails,
)

# Each of these once counted as its own mailbox for the booking and mail limits while the SMTP
# client reduced it to another (issue 21.2): twelve spellings put 24 messages in one inbox.
REFUSED = {
    "a trailing comment": "victim@example.com(1)",
    "a leading comment": "(x)victim@example.com",
    "an angle bracket": "victim@example.com>",
    "a display name": "Victim <victim@example.com>",
    "a comma: two addresses": "a,victim@example.com",
    "a semicolon": "a;victim@example.com",
    "a quoted local part": '"victim"@example.com',
    "a quoted local part with a control character": '"vic\x07tim"@example.com',
    "a space": "victim @example.com",
    "a no-break space": "victim\u00a0@example.com",
    "two @": "a@victim@example.com",
    "no @": "victim.example.com",
    "no domain": "victim@",
    "no local part": "@example.com",
    "a dot first": ".victim@example.com",
    "two dots": "vic..tim@example.com",
    "a dot last": "victim.@example.com",
    "an address literal": "victim@[192.0.2.1]",
    "a single-label domain": "victim@localhost",
    "a numeric top-level domain": "victim@192.0.2.1",
    "a trailing dot": "victim@example.com.",
    "a label starting with a hyphen": "victim@-example.com",
    "an underscore in the domain": "victim@ex_ample.com",
    "a line break": "victim@example.com\r\nBcc: x@example.com",
    "a direction override": "victim\u202e@example.com",
    "over 254 characters": "v@" + "a" * 250 + ".com",
}


@pytest.mark.parametrize("typed", REFUSED.values(), ids=REFUSED.keys())
def test_anything_an_smtp_client_would_read_otherwise_is_refused(typed: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_email(typed)
    message = refused.value.fields["email"]
    assert "e-mail address" in message, message


ACCEPTED = {
    "plain": ("zoe@example.com", "zoe@example.com", False),
    "case kept as typed": ("Zoe.Smith@Example.COM", "Zoe.Smith@example.com", False),
    "an apostrophe and a tag": ("o'neil+spa@example.ie", "o'neil+spa@example.ie", False),
    "an internationalised domain": ("ida@exämple.com", "ida@xn--exmple-cua.com", False),
    "its punycode": ("ida@xn--exmple-cua.com", "ida@xn--exmple-cua.com", False),
    "a non-ASCII local part": ("josé@example.com", "josé@example.com", True),
    "a sharp s, never folded": ("straße@example.com", "straße@example.com", True),
    "surrounding spaces": ("  zoe@example.com ", "zoe@example.com", False),
}


@pytest.mark.parametrize(("typed", "envelope", "utf8"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_an_address_is_kept_as_typed_and_its_envelope_derived(
    typed: str, envelope: str, utf8: bool
) -> None:
    address = parse_email(typed)
    assert address.typed == typed.strip()
    assert address.envelope == envelope
    assert address.needs_smtputf8 is utf8


def test_a_sharp_s_is_mailed_as_typed_and_counted_with_its_folded_twin() -> None:
    # Stored folded, it was mailed to strasse@, another mailbox (issue 21.2).
    address = parse_email("straße@example.com")
    assert address.envelope == "straße@example.com"
    assert address.mailbox == mailbox("STRASSE@example.com")  # the limit's safe side


_LOCAL = st.text(
    st.characters(codec="utf-8", categories=["L", "N", "P", "S", "M"]), min_size=1, max_size=20
)
_DOMAIN = st.sampled_from(["example.com", "exämple.com", "EXAMPLE.org", "xn--bcher-kva.example"])


@given(local=_LOCAL, domain=_DOMAIN)
def test_what_is_accepted_is_what_the_smtp_client_sends_and_the_limits_count(
    local: str, domain: str
) -> None:
    try:
        address = parse_email(f"{local}@{domain}")
    except InvalidInput:
        return
    # aiosmtplib re-parses every recipient with email.utils.parseaddr: an accepted address
    # must come out of it unchanged, or RCPT TO would name another mailbox.
    assert parseaddr(address.envelope)[1] == address.envelope
    assert quote_address(address.envelope) == f"<{address.envelope}>"
    assert mailbox(address.envelope) == mailbox(address.typed)


def _strings(pattern: str, max_size: int) -> st.SearchStrategy[str]:
    """Strings the API's schema allows: its pattern and its length."""
    return st.from_regex(pattern, fullmatch=True).filter(lambda text: len(text) <= max_size)


@given(
    name=_strings(NAME_PATTERN, MAX_NAME),
    email=_strings(EMAIL_PATTERN, MAX_ADDRESS),
    phone=_strings(PHONE_PATTERN, MAX_PHONE),
)
def test_every_client_the_api_schema_describes_is_accepted(
    name: str, email: str, phone: str
) -> None:
    """Issue 21.7: a schema-driven client never meets a 422 the document did not predict."""
    client = ClientDetails.from_fields(
        {"name": name, "email": email, "phone": phone}, by=Actor.CLIENT
    )
    assert client.email == email.strip()
