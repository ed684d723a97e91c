"""Phone numbers in E.164, whatever way they were written or shared."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


@lru_cache(maxsize=4096)  # every WhatsApp and SMS message: the same senders, again and again
def normalize_phone(raw: str, region: str = "IT") -> str | None:
    """`+39 333 111 2222`, `3331112222` or Telegram's `393331112222` → `+393331112222`."""
    cleaned = raw.strip().removeprefix("whatsapp:").strip()
    candidates = [cleaned]
    if cleaned and cleaned[0].isdigit() and not cleaned.startswith("00"):
        candidates.append("+" + cleaned)  # Telegram contacts come without the plus
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return None
