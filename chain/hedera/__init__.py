"""Hedera at the edges: identities (hiero-sdk-python's types), the Mirror Node REST client, the
Mirror Node as a `LogSource`, and HTS token balance snapshots. The domain never sees these
types: everything leaves this package as checksummed EVM addresses and `int`s."""
