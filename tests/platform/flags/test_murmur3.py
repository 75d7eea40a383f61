"""The murmur3 flag splits bucket on (the mmh3 package) against published MurmurHash3_x86_32 vectors, and the buckets
it gives against those of the pure-Python implementation it replaced."""

from __future__ import annotations

import hashlib

import mmh3
import pytest

from services.platform.flags.flagd_operations import fractional_bucket


@pytest.mark.parametrize(
    ("data", "seed", "expected"),
    [
        (b"", 0, 0),
        (b"", 1, 0x514E28B7),
        (b"", 0xFFFFFFFF, 0x81F16F39),
        (b"\x00\x00\x00\x00", 0, 0x2362F9DE),
        (b"\xff\xff\xff\xff", 0, 0x76293B50),
        (b"\x21", 0, 0x72661CF4),  # one, two and three tail bytes
        (b"\x21\x43", 0, 0xA0F7B07A),
        (b"\x21\x43\x65", 0, 0x7E4A8634),
        (b"\x21\x43\x65\x87", 0, 0xF55B516B),
        (b"aaaa", 0x9747B28C, 0x5A97808A),
        (b"hello", 0, 0x248BFA47),
        (b"Hello, world!", 0x9747B28C, 0x24884CBA),
        (b"The quick brown fox jumps over the lazy dog", 0, 0x2E4FF723),
        (b"The quick brown fox jumps over the lazy dog", 0x9747B28C, 0x2FA826CD),
    ],
)
def test_published_vectors(data: bytes, seed: int, expected: int) -> None:
    assert mmh3.hash(data, seed, signed=False) == expected


def test_signed_reading_is_gos_int32() -> None:
    # flagd buckets on int32(murmur3.Sum32(...)): 0xF6B5C720 read as a signed 32-bit integer.
    assert mmh3.hash(b"foo", signed=True) == -156908512


def test_smhasher_verification_value() -> None:
    """SMHasher's check: hash {}, {0}, {0,1}, ... with seed 256-n, then hash the concatenated results."""
    key = bytearray(256)
    hashes = bytearray()
    for length in range(256):
        key[length] = length
        hashes += mmh3.hash(bytes(key[:length]), 256 - length, signed=False).to_bytes(4, "little")
    assert mmh3.hash(bytes(hashes), 0, signed=False) == 0xB0F57EE3


def test_buckets_are_those_of_the_pure_python_hash() -> None:
    """10,004 bucketing values (two flags x 5,000 customer codes, the empty string, non-ASCII, a long one): their
    buckets, written out exactly, hash to the digest the pure-Python murmur3 gave before the switch to mmh3."""
    values = [f"{flag}{1000000 + n:07d}" for flag in ("new-platform", "new-order-flow") for n in range(5000)]
    values += ["", "é", "台東市", "a" * 100]
    buckets = [fractional_bucket(value) for value in values]

    assert [sum(bucket < 10 for bucket in buckets[start : start + 5000]) for start in (0, 5000)] == [535, 513]
    digest = hashlib.sha256(",".join(repr(bucket) for bucket in buckets).encode()).hexdigest()
    assert digest == "fe7248e092acd11a27dbc93f3b90c2eacb0a0c8a26c1af6d59b94457970b8252"
