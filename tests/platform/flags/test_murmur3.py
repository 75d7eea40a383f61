"""MurmurHash3 x86 32-bit against published vectors."""

from __future__ import annotations

import pytest

from services.platform.flags.murmur3 import murmur3_32, murmur3_32_signed


@pytest.mark.parametrize(
    ("data", "seed", "expected"),
    [
        (b"", 0, 0),
        (b"", 1, 0x514E28B7),
        (b"", 0xFFFFFFFF, 0x81F16F39),
        (b"hello", 0, 0x248BFA47),
        (b"The quick brown fox jumps over the lazy dog", 0, 0x2E4FF723),
    ],
)
def test_published_vectors(data: bytes, seed: int, expected: int) -> None:
    assert murmur3_32(data, seed) == expected


def test_signed_reading_matches_the_common_python_binding() -> None:
    # mmh3.hash("foo") is documented as -156908512.
    assert murmur3_32_signed(b"foo") == -156908512


def test_smhasher_verification_value() -> None:
    """SMHasher's check: hash {}, {0}, {0,1}, ... with seed 256-n, then hash the concatenated results."""
    key = bytearray(256)
    hashes = bytearray()
    for length in range(256):
        key[length] = length
        hashes += murmur3_32(bytes(key[:length]), 256 - length).to_bytes(4, "little")
    assert murmur3_32(bytes(hashes), 0) == 0xB0F57EE3


@pytest.mark.parametrize("length", range(9))
def test_every_tail_length_is_hashed_to_32_bits(length: int) -> None:
    value = murmur3_32(bytes(range(length)), 42)
    assert 0 <= value <= 0xFFFFFFFF
    assert value != murmur3_32(bytes(range(length)) + b"\x00", 42)
