"""Importing an asset from its token contract, and freezing a distribution's holders from a
token snapshot: the service functions the API, the CLI and the demo share.

Every chain read and check happens before the first save, so bad input (another chain, an
unknown address, a plain ERC-20, somebody else's vault, a bond already matured) records
nothing. The import itself is up to three saves (the asset, a bond's terms, its corporate
actions); each is idempotent, so a crash between them is repaired by importing again.

A bond's nominal value and maturity are read from the token and kept on the asset; a
re-import that reads other values records them (`BondTermsUpdated`), keeping the coupon
terms an operator recorded.

The token's kind (a genuine ATS diamond, or our reference token) is detected by the reader,
returned with the asset id and logged; the Asset's events are unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID

from web3 import Web3

from app.ledger import PayoutLedger
from chain.token_reader import (
    TokenFacts,
    check_chain,
    check_payment_token,
    check_vault,
    corporate_actions,
    holders_at_snapshot,
    read_token,
)
from domain import accounts
from domain.asset import Asset, BondTerms
from domain.distribution import Status
from domain.entitlements import Snapshot, Totals
from domain.errors import InvalidTerms
from domain.planning import GasModel
from domain.terms import DistributionKind, DistributionTerms

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImportedAsset:
    asset_id: UUID
    token_kind: str  # "ats" (an ATS ResolverProxy diamond) | "reference" (our SecurityToken)
    security_type: str  # ATS IFactory.SecurityType, e.g. "Equity", "BondFixedRate"


def import_asset(ledger: PayoutLedger, w3: Web3, *, chain_id: int, token_address: str,
                 payment_token: str, payment_decimals: int, vault_address: str | None,
                 actor: str, operator: str | None = None,
                 approver: str | None = None) -> ImportedAsset:
    """Read, check, then record; `token_address` is an EVM address or a Hedera `0.0.x` id.

    `operator`/`approver` are the accounts our workers sign with: given, the vault must grant
    them their roles (a vault owned by someone else is refused before anything is recorded).
    """
    token = accounts.canonical(token_address)
    payment = accounts.canonical(payment_token)
    vault = accounts.canonical(vault_address) if vault_address else None
    check_chain(w3, chain_id)
    facts = read_token(w3, token)
    check_payment_token(w3, payment, payment_decimals)
    actions = corporate_actions(w3, token, payment_decimals=payment_decimals, facts=facts)
    if vault is not None:
        check_vault(w3, vault, operator=operator, approver=approver)
    known = Asset.create_id(chain_id, facts.address) in ledger.repository
    existing = ledger.get_asset(Asset.create_id(chain_id, facts.address)) if known else None
    bond = bond_terms_read(facts, existing.bond_terms if existing else None, payment_decimals)
    if bond is not None and not known and bond.maturity_date <= datetime.now(UTC).date():
        raise InvalidTerms(f"the bond matured on {bond.maturity_date}: a maturity in the past"
                           " cannot be imported")
    asset_id = ledger.import_asset(
        chain_id=chain_id, token_address=facts.address, name=facts.name, symbol=facts.symbol,
        decimals=facts.decimals, kind=facts.kind, payment_token=payment,
        payment_decimals=payment_decimals, vault_address=vault, actor=actor,
    )
    if bond is not None:
        ledger.update_bond_terms(asset_id, bond, actor=actor, reason="read from the token")
    ledger.record_corporate_actions(asset_id, actions)
    log.info("imported %s (%s %s token, %s) as asset %s", facts.address, facts.token_kind,
             facts.security_type, facts.symbol, asset_id)
    return ImportedAsset(asset_id, facts.token_kind, facts.security_type)


def bond_terms_read(facts: TokenFacts, recorded: BondTerms | None,
                    payment_decimals: int) -> BondTerms | None:
    """The bond terms the token declares (nominal value, maturity), over those recorded: the
    coupon's terms, which the token does not carry, are kept. None: not a bond, or a bond
    declaring no maturity or nominal value."""
    nominal = facts.nominal_in(payment_decimals)
    if facts.kind != "BOND" or facts.maturity_date is None or nominal <= 0:
        return None
    maturity = facts.maturity_date.date()
    if recorded is None:
        return BondTerms(nominal_value=nominal, maturity_date=maturity)
    return replace(recorded, nominal_value=nominal, maturity_date=maturity)


def check_matured(w3: Web3, asset: Asset, terms: DistributionTerms) -> None:
    """A cash-out freezes its holders at maturity on the chain's own clock: before it, the
    snapshot is refused and nothing is recorded or sent."""
    if terms.kind is not DistributionKind.CASH_OUT or asset.bond_terms is None:
        return
    head = datetime.fromtimestamp(int(w3.eth.get_block("latest")["timestamp"]), UTC)
    if head.date() < asset.bond_terms.maturity_date:
        raise InvalidTerms(f"the bond matures on {asset.bond_terms.maturity_date}; the chain"
                           f" is at {head:%Y-%m-%d %H:%M} UTC: a cash-out waits for maturity")


def snapshot_from_chain(ledger: PayoutLedger, w3: Web3, distribution_id: UUID, *,
                        snapshot_id: int, gas_model: GasModel,
                        vault_balance: int | None = None, page_size: int = 1000,
                        on_page: Callable[[int], None] | None = None) -> Totals:
    """Freeze the distribution's holders from the token's snapshot, read page by page."""
    distribution = ledger.get_distribution(distribution_id)
    distribution.require_transition(Status.SNAPSHOTTED)  # refuse before reading the chain
    asset = ledger.get_asset(distribution.asset_id)
    check_chain(w3, asset.chain_id)
    check_matured(w3, asset, distribution.terms)
    pages = holders_at_snapshot(w3, asset.token_address, snapshot_id, page_size=page_size)

    def counted() -> Iterator[list[tuple[str, int]]]:
        for page in pages:
            if on_page is not None:
                on_page(len(page))
            yield page

    snapshot = Snapshot.from_chunks(counted(), decimals=asset.decimals)
    return ledger.snapshot_distribution(
        distribution_id, snapshot=snapshot, snapshot_ref=f"{asset.token_address}@snapshot:"
        f"{snapshot_id}", gas_model=gas_model, vault_balance=vault_balance,
    )
