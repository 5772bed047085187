"""What a stranger holding a tracking number may see of the recipient.

A tracking number is printed on the label, forwarded in chats and typed into
search boxes: it is not a secret. So a public answer shows only enough for
the recipient to recognise the parcel as theirs:

========  ===========================  ==================================
field     public                       after verification
========  ===========================  ==================================
name      first and last character     the same
          (``张三丰`` → ``张*丰``)
phone     first three digits           first three and last four
          (``138********``)            (``138****1234``)
address   city and district only       the full street address
========  ===========================  ==================================

The phone's last four digits are the verification code, so the public mask
must not show them (a mask like ``138****1234`` would print the answer next
to the question). A name mask hides the name's length too: one ``*`` stands
for however many characters are hidden.
"""

from __future__ import annotations

import hmac


def mask_name(name: str | None) -> str | None:
    """``张三丰`` → ``张*丰``, ``张三`` → ``张*``, ``Ann Lee`` → ``A*e``."""
    if not name:
        return None
    name = name.strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" + name[-1]


def _digits(phone: str | None) -> str:
    return "".join(c for c in phone or "" if c.isdigit())


def mask_phone(phone: str | None, *, verified: bool = False) -> str | None:
    """``13800001234`` → ``138********`` (public) or ``138****1234`` (verified)."""
    digits = _digits(phone)
    if not digits:
        return None
    if len(digits) < 8:
        # Too short to show any of it without showing most of it.
        return "*" * len(digits)
    if verified:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return digits[:3] + "*" * (len(digits) - 3)


def last_four(phone: str | None) -> str | None:
    """The verification answer for a recipient's phone, or None without one."""
    digits = _digits(phone)
    return digits[-4:] if len(digits) >= 4 else None


def code_matches(phone: str | None, code: str) -> bool:
    """Whether ``code`` is the last four digits of ``phone``, in constant time."""
    expected = last_four(phone)
    # Compare against a placeholder when there is no phone: same work either way.
    return hmac.compare_digest((expected or "\x00" * 4).encode(), code.encode()) and expected is not None


def public_area(city: str | None, district: str | None) -> str | None:
    """``上海`` and ``黄浦区`` → ``上海 黄浦区``: the part of an address anyone may see."""
    parts = [p for p in (city, district) if p]
    return " ".join(parts) or None
