"""Who is calling: the ``Authorization: Bearer KEY`` header turned into the library's Identity.

Department mode: every request needs a key made by ``rag keys create`` or the web page; it acts as its
user, with the groups it carries, through ``Identity.from_claims`` (the same rule, administrators
included, as a sign-in). Personal mode: the one local user; a key is needed only once the operator has
set ``RAG_API_KEY`` or made keys with ``rag keys`` (any of them then acts as the local user).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from api.errors import ApiError
from rag.access.control import Identity
from rag.access.keys import KeyStore
from rag.settings import Settings

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class Authenticator:
    """Checks keys against ``RAG_API_KEY`` and the key store."""

    def __init__(self, settings: Settings, keys: KeyStore) -> None:
        self.settings = settings
        self.keys = keys

    def key_required(self) -> bool:
        return (self.settings.mode == "department" or bool(self.settings.api_key.get_secret_value())
                or self.keys.any_active())

    def identify(self, authorization: str | None) -> Identity:
        """The caller's Identity, or ApiError 401 with what to send."""
        if not self.key_required():
            return Identity.local()
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "an API key is required: send `Authorization: Bearer KEY` "
                                "(create one with `rag keys create --user NAME`)", _CHALLENGE)
        personal_key = self.settings.api_key.get_secret_value()
        if self.settings.mode == "personal" and personal_key and hmac.compare_digest(
                token.encode(), personal_key.encode()):
            return Identity.local()
        info = self.keys.verify(token)
        if info is None:
            raise ApiError(401, "invalid or revoked API key", _CHALLENGE)
        if self.settings.mode == "personal":
            return Identity.local()
        claims = {self.settings.user_claim: info.user, self.settings.groups_claim: list(info.groups)}
        return Identity.from_claims(claims, self.settings)


def current_identity(request: Request, authorization: Annotated[str | None, Header()] = None) -> Identity:
    """FastAPI dependency: the Identity the request acts as."""
    auth: Authenticator = request.app.state.auth
    return auth.identify(authorization)


CurrentIdentity = Annotated[Identity, Depends(current_identity)]
