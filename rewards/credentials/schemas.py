"""What the API says about badge credentials (the Open Badges documents themselves are plain JSON objects)."""

from typing import Any

from pydantic import BaseModel, Field

from rewards.credentials.service import CredentialStatus, SignedCredential


class JwksOut(BaseModel):
    keys: list[dict[str, Any]] = Field(description="The public keys that sign credentials (RFC 7517 JWKs).")


class CredentialOut(BaseModel):
    credential_id: str
    status: CredentialStatus = Field(description="`valid`, or `revoked` once the badge is no longer held.")
    verification_url: str = Field(description="The public page that says whether the credential holds.")
    jwt: str = Field(description="The credential signed as a VC-JWT (`application/vc+jwt`).")
    credential: dict[str, Any] = Field(description="The `OpenBadgeCredential` the VC-JWT carries, decoded.")

    @classmethod
    def of(cls, signed: SignedCredential, verification_url: str) -> "CredentialOut":
        return cls(
            credential_id=signed.row.credential_id,
            status=signed.status,
            verification_url=verification_url,
            jwt=signed.jwt,
            credential=signed.credential,
        )
