"""The Hedera payout account's signer, behind the same kind of seam as the EVM `Signer`
(chain/signer.py): workers get a signer from their bootstrap and never see key material.

A Hedera signature covers a transaction's body bytes (ED25519 over the bytes; ECDSA secp256k1
over their keccak-256, as r||s). hiero-sdk-python accepts exactly this shape as a callback
(`Transaction.sign_with(public_key, sign)`), so a custodian (KMS, HSM, DFNS) implements the
same two members: `public_key` and `sign(body_bytes) -> signature`, and must sign only: the
rail records the TransactionId before it submits, so a custodian that submits by itself, or
changes the body, breaks exactly-once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn, Protocol

from hiero_sdk_python import PrivateKey

from chain.signer import SignerConfigError

HEDERA_KEY_ENV = "MASS_PAYOUT_HEDERA_PRIVATE_KEY"


class HederaSigner(Protocol):
    @property
    def public_key(self) -> Any:
        """hiero_sdk_python.PublicKey of the payout account's key."""
        ...

    def sign(self, body_bytes: bytes) -> bytes:
        """The raw signature over exactly these body bytes."""
        ...


class LocalHederaSigner:
    """A key held in this process (DER or raw hex, ED25519 or ECDSA secp256k1)."""

    __slots__ = ("__key",)

    def __init__(self, key: PrivateKey) -> None:
        self.__key = key

    @classmethod
    def from_string(cls, text: str) -> LocalHederaSigner:
        try:
            return cls(PrivateKey.from_string(text.strip()))
        except Exception:  # noqa: BLE001 (a parse error may echo the key: say less)
            raise SignerConfigError("the Hedera private key is malformed (DER or raw hex)"
                                    ) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LocalHederaSigner:
        raw = environ.get(HEDERA_KEY_ENV)
        if not raw:
            raise SignerConfigError(f"no Hedera signing key: set {HEDERA_KEY_ENV}")
        return cls.from_string(raw)

    @property
    def public_key(self) -> Any:
        return self.__key.public_key()

    def sign(self, body_bytes: bytes) -> bytes:
        return bytes(self.__key.sign(body_bytes))

    def __repr__(self) -> str:
        return f"LocalHederaSigner(public_key={self.public_key.to_string_raw()})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        """No pickling: a key must not ride along in a job payload, a cache or a log."""
        raise TypeError("a LocalHederaSigner cannot be serialized")
