"""Client secrets: high-entropy tokens stored as a salted SHA-256, checked in constant time.

A slow password hash (PBKDF2) would cost milliseconds on every request; a 256-bit random token
cannot be brute-forced, so one salted SHA-256 is enough (contract §2).
"""
import hashlib
import hmac
import secrets


def new_secret() -> str:
    return "sec_" + secrets.token_urlsafe(32)


def hash_secret(secret: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()
    return f"{salt}${digest}"


def secret_matches(secret: str, stored: str) -> bool:
    if not stored or "$" not in stored:
        return False
    salt, _ = stored.split("$", 1)
    return hmac.compare_digest(hash_secret(secret, salt), stored)
