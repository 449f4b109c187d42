"""Decrypt Luxembourg Smarty P1 frames (DLMS security suite 0: AES-128-GCM).

Frame: 0xDB, 0x08, system title (8), 0x82, length (2), security byte,
frame counter (4), ciphertext, GCM tag (12). The IV is the system title
followed by the frame counter; the additional authenticated data is the
security byte followed by the authentication key.

dsmr-parser can decrypt these too, but it hands back only the parsed
telegram; we decrypt here so the plaintext (its header line names the meter
model) goes through the same path as every other telegram.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .dsmr_versions import SMARTY_AUTHENTICATION_KEY

_TAG_LEN: Final = 12
_HEADER_LEN: Final = 18  # up to and including the frame counter
# Security control byte for "authenticated and encrypted, suite 0".
_SECURITY_AUTH_ENC: Final = 0x30


class CipherError(Exception):
    """The frame does not decrypt: wrong key, or damaged in transit."""


def parse_key(text: str, what: str = "decryption key") -> bytes:
    """A 128-bit key from 32 hex digits; ValueError with a readable message otherwise."""
    cleaned = text.strip().replace(" ", "")
    try:
        key = bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"The {what} must be 32 hexadecimal digits") from None
    if len(key) != 16:
        raise ValueError(f"The {what} must be 32 hexadecimal digits")
    return key


class SmartyCipher:
    """Decrypts one meter's frames with its key."""

    def __init__(self, key: str, authentication_key: str = SMARTY_AUTHENTICATION_KEY) -> None:
        self._key = parse_key(key)
        self._auth_key = parse_key(authentication_key, "authentication key")

    def decrypt(self, frame: bytes) -> bytes:
        if len(frame) < _HEADER_LEN + _TAG_LEN:
            raise CipherError("Frame too short")
        security = frame[13]
        if security != _SECURITY_AUTH_ENC:
            raise CipherError(f"Unsupported security control byte {security:#04x}")
        iv = frame[2:10] + frame[14:18]
        tag = frame[-_TAG_LEN:]
        decryptor = Cipher(
            algorithms.AES(self._key), modes.GCM(iv, tag, min_tag_length=_TAG_LEN)
        ).decryptor()
        decryptor.authenticate_additional_data(bytes([security]) + self._auth_key)
        try:
            return decryptor.update(frame[_HEADER_LEN:-_TAG_LEN]) + decryptor.finalize()
        except InvalidTag:
            raise CipherError("The frame does not authenticate with this key") from None
