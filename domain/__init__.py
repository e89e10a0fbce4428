"""The payout domain: pure business rules (standard library + eventsourcing, plus keccak).

Nothing here performs I/O. Keccak (safe-pysha3) is the one third-party import besides
eventsourcing: Ethereum's hash is not in hashlib, and EIP-55 checksums and the Merkle
commitment are domain rules, not infrastructure.
"""
