"""Cases for tools/semgrep/auth.yml (`semgrep --test tools/semgrep`): `ruleid` lines must match, `ok` lines must not."""

import logging
import random
import secrets
import string

import jwt

_log = logging.getLogger(__name__)
ALGORITHM = "HS256"


def decode(token: str, secret: str) -> None:
    # ruleid: jwt-decode-unverified
    jwt.decode(token, secret)
    # ruleid: jwt-decode-unverified
    jwt.decode(token, secret, algorithms=[ALGORITHM], options={"verify_signature": False})
    # ruleid: jwt-decode-unverified
    jwt.decode(token, secret, algorithms=["HS256", "none"])
    # ruleid: jwt-decode-unverified
    jwt.decode_complete(token, secret)

    # ok: jwt-decode-unverified
    jwt.decode(token, secret, algorithms=[ALGORITHM], options={"verify_exp": False, "require": ["exp"]})
    # ok: jwt-decode-unverified
    jwt.encode({"sub": "admin"}, secret, algorithm=ALGORITHM)


class Invite:
    def __init__(self) -> None:
        # ruleid: random-for-secrets
        self.token = "".join(random.choices(string.ascii_letters, k=32))
        # ok: random-for-secrets
        self.delay_seconds = random.uniform(0.5, 2.0)


def credentials() -> dict[str, object]:
    # ruleid: random-for-secrets
    password = str(random.randint(100000, 999999))
    # ruleid: random-for-secrets
    reset = {"reset_token": random.getrandbits(128)}
    # ruleid: random-for-secrets
    invite = Invite.__new__(Invite, api_key=random.Random().random())
    # ok: random-for-secrets
    jwt_secret = secrets.token_urlsafe(48)
    # ok: random-for-secrets
    salt = random.SystemRandom().getrandbits(64)
    # ok: random-for-secrets
    order_seed = random.Random(20261127).random()
    return {"password": password, "reset": reset, "invite": invite, "jwt": jwt_secret, "salt": salt, "seed": order_seed}


def log_in(username: str, password: str, refresh_token: str, settings: object, token_id: str) -> None:
    # ruleid: secret-logged
    _log.info("login for %s with %s", username, password)
    # ruleid: secret-logged
    _log.debug(f"refreshing {refresh_token}")
    # ruleid: secret-logged
    logging.warning("secret is %s", settings.jwt_secret)

    # ok: secret-logged
    _log.info("login for %s", username)
    # ok: secret-logged
    _log.info("revoked token %s", token_id)
    # ok: secret-logged
    _log.warning("revocation list unavailable; allowing the token until it expires", exc_info=True)
