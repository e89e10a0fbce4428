"""Signing: keys come from an encrypted keystore or the environment, never leak through
repr, pickle or error messages, and a signed transaction's hash is known before broadcast."""

from __future__ import annotations

import json
import pickle
import traceback

import pytest
from eth_account import Account
from web3 import Web3

from chain.signer import (
    ANVIL_DEV_KEY_LOOPBACK_ONLY,
    KEYSTORE_ENV,
    PASSPHRASE_ENV,
    PRIVATE_KEY_ENV,
    LocalSigner,
    SignedTx,
    SignerConfigError,
    dev_signer,
)

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def account():
    return Account.create()


@pytest.fixture
def keystore(tmp_path, account):
    path = tmp_path / "operator.json"
    path.write_text(json.dumps(Account.encrypt(account.key, PASSPHRASE)))  # scrypt, as geth
    return path


def secrets_of(account) -> list[str]:
    return [account.key.hex(), account.key.hex().removeprefix("0x"), PASSPHRASE]


def assert_leaks_nothing(err: BaseException, secrets: list[str]) -> None:
    """What a log shows: the messages of the error and of every cause it displays."""
    rendered = "".join(traceback.TracebackException(type(err), err, None).format())
    for secret in secrets:
        assert secret not in rendered


def test_a_keystore_round_trips_through_the_environment(keystore, account):
    # The operator's keystore, encrypted as geth and eth-account write it.
    signer = LocalSigner.from_env({KEYSTORE_ENV: str(keystore), PASSPHRASE_ENV: PASSPHRASE})
    # It signs as the account whose key was encrypted.
    assert signer.address == account.address


def test_a_raw_key_in_the_environment_is_accepted(account):
    signer = LocalSigner.from_env({PRIVATE_KEY_ENV: account.key.hex()})
    assert signer.address == account.address


def test_a_wrong_passphrase_is_a_clear_error_without_secrets(keystore, account):
    with pytest.raises(SignerConfigError, match="wrong passphrase") as caught:
        LocalSigner.from_env({KEYSTORE_ENV: str(keystore), PASSPHRASE_ENV: "not it"})
    # Neither the message nor the rendered traceback shows the key or a passphrase.
    assert_leaks_nothing(caught.value, [*secrets_of(account), "not it"])
    assert caught.value.__suppress_context__


@pytest.mark.parametrize("bad_key", ["0x1234", "0x" + "zz" * 32, "0x" + "00" * 32,
                                     "0x" + "ff" * 32])
def test_a_malformed_key_is_a_clear_error_that_does_not_echo_it(bad_key):
    with pytest.raises(SignerConfigError, match="malformed") as caught:
        LocalSigner.from_env({PRIVATE_KEY_ENV: bad_key})
    assert_leaks_nothing(caught.value, [bad_key, bad_key[2:]])


@pytest.mark.parametrize(("environ", "message"), [
    ({}, "no signing key"),
    ({KEYSTORE_ENV: "/nonexistent/key.json"}, f"{PASSPHRASE_ENV} is not"),
    ({KEYSTORE_ENV: "/nonexistent/key.json", PASSPHRASE_ENV: "x"}, "cannot read keystore"),
    ({KEYSTORE_ENV: "k.json", PRIVATE_KEY_ENV: "0x" + "11" * 32}, "not both"),
])
def test_incomplete_configuration_says_what_is_missing(environ, message):
    with pytest.raises(SignerConfigError, match=message):
        LocalSigner.from_env(environ)


def test_a_keystore_whose_address_was_edited_is_refused(tmp_path, account):
    keyfile = Account.encrypt(account.key, PASSPHRASE, kdf="pbkdf2", iterations=1_000)
    keyfile["address"] = "11" * 20
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(keyfile))
    with pytest.raises(SignerConfigError, match="another address"):
        LocalSigner.from_keystore(path, PASSPHRASE)


def test_the_signer_shows_its_address_only_and_cannot_be_pickled(account):
    signer = LocalSigner.from_key(account.key)
    for text in (repr(signer), str(signer), f"{signer}"):
        assert account.address in text
        assert account.key.hex().removeprefix("0x") not in text
    assert not hasattr(signer, "key") and not hasattr(signer, "__dict__")
    with pytest.raises(TypeError, match="cannot be serialized"):
        pickle.dumps(signer)


def test_a_transaction_without_chain_id_is_refused(account):
    with pytest.raises(ValueError, match="chainId"):
        LocalSigner.from_key(account.key).sign_transaction(
            {"nonce": 0, "to": account.address, "value": 0, "gas": 21_000, "gasPrice": 1})


def test_a_signed_tx_reports_only_its_true_hash():
    with pytest.raises(ValueError, match="not the hash"):
        SignedTx(b"\x02raw", "0x" + "00" * 32)


def eip1559_transfer(w3: Web3, signer, to: str) -> dict:
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    return {"type": 2, "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(signer.address), "to": to, "value": 12_345,
            "gas": 21_000, "maxFeePerGas": 2 * base_fee + 10**9,
            "maxPriorityFeePerGas": 10**9, "data": b""}


def broadcast_and_check(w3: Web3, signer, to: str) -> None:
    # The hash is known from signing alone, before anything is sent.
    signed = signer.sign_transaction(eip1559_transfer(w3, signer, to))
    assert signed.tx_hash.startswith("0x") and len(signed.tx_hash) == 66
    # The node accepts the raw transaction and names it by that same hash.
    sent = w3.eth.send_raw_transaction(signed.raw)
    assert "0x" + bytes(sent).hex() == signed.tx_hash
    receipt = w3.eth.wait_for_transaction_receipt(sent, timeout=30)
    assert receipt["status"] == 1
    assert "0x" + bytes(receipt["transactionHash"]).hex() == signed.tx_hash


def test_py_evm_accepts_the_signed_transaction_under_its_precomputed_hash(evm, account):
    signer = LocalSigner.from_key(account.key)
    evm.w3.eth.send_transaction({"from": evm.admin, "to": signer.address, "value": 10**18})
    broadcast_and_check(evm.w3, signer, evm.outsider)
    assert evm.w3.eth.get_balance(evm.outsider) > 0


@pytest.mark.anvil
def test_anvil_accepts_the_dev_signer_transaction_under_its_precomputed_hash(anvil_w3):
    signer = dev_signer(anvil_w3)
    assert signer.address == Account.from_key(ANVIL_DEV_KEY_LOOPBACK_ONLY).address
    broadcast_and_check(anvil_w3, signer, anvil_w3.eth.accounts[3])


def test_the_dev_key_is_refused_for_a_non_loopback_endpoint():
    # No request is made: the endpoint is only inspected.
    remote = Web3(Web3.HTTPProvider("https://testnet.hashio.io/api"))
    with pytest.raises(SignerConfigError, match="loopback"):
        dev_signer(remote)


