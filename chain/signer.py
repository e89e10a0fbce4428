"""Transaction signing behind a small interface, so the key never travels with the work.

Workers receive a `Signer` from their bootstrap and never see key material: the private key
stays inside `LocalSigner` (no attribute, repr, pickle or error message exposes it), and a
custodial signer can replace it without touching the worker.

Seam for remote/custodial signers (DFNS, AWS KMS, Fireblocks, an HSM): a `RemoteSigner`
implements the same protocol: `address` (the custodied key's checksummed address, fetched
once at start-up) and `sign_transaction(tx)`, which sends the unsigned transaction (or its
signing hash) to the custodian and returns `SignedTx(raw, tx_hash)`, the fully serialized
signed transaction. It must neither broadcast nor change the fields it was given (nonce, gas,
fees): the worker records `Submitted(tx_hash, nonce)` *before* it broadcasts, so that after a
crash between the two steps the supervisor can find the transaction by that hash and never
pays twice; a custodian that broadcasts itself, or returns only an id, breaks that guarantee.
`SignedTx` checks that `tx_hash == keccak(raw)`, so a signer cannot report a hash that is not
the one the chain will show.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import IPCProvider, Web3
from web3.providers.eth_tester import EthereumTesterProvider

from chain.errors import ChainError

KEYSTORE_ENV = "MASS_PAYOUT_KEYSTORE"
PASSPHRASE_ENV = "MASS_PAYOUT_KEYSTORE_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)
PRIVATE_KEY_ENV = "MASS_PAYOUT_PRIVATE_KEY"

# Anvil's first well-known development key: public knowledge, so anything it holds on a real
# network is stolen within seconds. Only for loopback dev chains (see `dev_signer`).
ANVIL_DEV_KEY_LOOPBACK_ONLY = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
)
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class SignerConfigError(ChainError):
    """The signer cannot be built from the configuration. Never carries key material.

    Raised `from None`: the library error it replaces may quote the key in its message.
    """


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed, serialized transaction and its hash, known before it is broadcast."""

    raw: bytes
    tx_hash: str  # "0x" + 64 hex

    def __post_init__(self) -> None:
        if self.tx_hash != "0x" + keccak(self.raw).hex():
            raise ValueError("tx_hash is not the hash of the raw transaction")


class Signer(Protocol):
    """Signs transactions for one account; see the module docstring for remote signers."""

    @property
    def address(self) -> str:
        """The signing account, EIP-55 checksummed."""
        ...

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTx:
        """Sign a complete transaction (chainId, nonce, gas, fees, to, data, value)."""
        ...


class LocalSigner:
    """A key held in this process, from an encrypted keystore (production) or a raw key."""

    __slots__ = ("__account",)

    def __init__(self, account: LocalAccount) -> None:
        self.__account = account

    @property
    def address(self) -> str:
        return str(self.__account.address)

    @classmethod
    def from_key(cls, private_key: str | bytes) -> LocalSigner:
        try:
            return cls(Account.from_key(private_key))
        except Exception:  # noqa: BLE001 (any parse error may echo the key: say less)
            msg = "the private key is malformed (expected 32 bytes as 0x-prefixed hex)"
            raise SignerConfigError(msg) from None

    @classmethod
    def from_keystore(cls, path: Path, passphrase: str) -> LocalSigner:
        try:
            keyfile = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            msg = f"cannot read keystore {path}: {type(err).__name__}"
            raise SignerConfigError(msg) from None
        try:
            key = Account.decrypt(keyfile, passphrase)
        except Exception:  # noqa: BLE001 (a MAC mismatch, or a malformed keystore)
            msg = f"cannot decrypt keystore {path}: wrong passphrase or corrupt file"
            raise SignerConfigError(msg) from None
        signer = cls.from_key(bytes(key))
        declared = str(keyfile.get("address", "")).lower().removeprefix("0x")
        if declared and declared != signer.address[2:].lower():
            raise SignerConfigError(f"keystore {path} declares another address than its key")
        return signer

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LocalSigner:
        """Exactly one of a keystore (+ passphrase) or a raw key: never guess between two."""
        keystore, raw = environ.get(KEYSTORE_ENV), environ.get(PRIVATE_KEY_ENV)
        if keystore and raw:
            raise SignerConfigError(f"set either {KEYSTORE_ENV} or {PRIVATE_KEY_ENV}, not both")
        if keystore:
            if PASSPHRASE_ENV not in environ:
                raise SignerConfigError(f"{KEYSTORE_ENV} is set but {PASSPHRASE_ENV} is not")
            return cls.from_keystore(Path(keystore), environ[PASSPHRASE_ENV])
        if raw:
            return cls.from_key(raw.strip())
        raise SignerConfigError(
            f"no signing key: set {KEYSTORE_ENV} and {PASSPHRASE_ENV}, or {PRIVATE_KEY_ENV}")

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTx:
        """Refuses a transaction without chainId: it could be replayed on another chain."""
        if "chainId" not in tx:
            raise ValueError("a transaction to sign must carry its chainId")
        signed = self.__account.sign_transaction(tx)
        return SignedTx(bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex())

    def __repr__(self) -> str:
        return f"LocalSigner(address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        """No pickling: a key must not ride along in a job payload, a cache or a log."""
        raise TypeError("a LocalSigner cannot be serialized")


def dev_signer(w3: Web3 | None = None) -> LocalSigner:
    """Anvil's first dev account, for embedded dev chains only; refuses a non-loopback RPC."""
    if w3 is not None and not _is_loopback(w3):
        raise SignerConfigError("the well-known dev key is for loopback dev chains only")
    return LocalSigner.from_key(ANVIL_DEV_KEY_LOOPBACK_ONLY)


def _is_loopback(w3: Web3) -> bool:
    provider = w3.provider
    if isinstance(provider, EthereumTesterProvider | IPCProvider):
        return True
    uri = str(getattr(provider, "endpoint_uri", "") or "")
    host = uri.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    return host in _LOOPBACK_HOSTS
