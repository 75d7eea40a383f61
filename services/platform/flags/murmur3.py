"""MurmurHash3 x86 32-bit in pure Python: the hash flagd's ``fractional`` buckets on, so splits agree everywhere."""

from __future__ import annotations

import struct

_C1 = 0xCC9E2D51
_C2 = 0x1B873593
_MASK = 0xFFFFFFFF


# Little-endian words whatever the machine (the reference reads blocks on x86); prebuilt for short keys.
_BLOCKS = tuple(struct.Struct(f"<{count}I") for count in range(64))


def _blocks_format(count: int) -> struct.Struct:
    return _BLOCKS[count] if count < 64 else struct.Struct(f"<{count}I")


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """The unsigned 32-bit MurmurHash3_x86_32 of ``data`` (Austin Appleby's reference algorithm)."""
    length = len(data)
    h = seed & _MASK
    block_count = length >> 2
    if block_count:
        for k in _blocks_format(block_count).unpack_from(data):
            k = (k * _C1) & _MASK
            k = ((k << 15) | (k >> 17)) & _MASK
            h ^= (k * _C2) & _MASK
            h = ((h << 13) | (h >> 19)) & _MASK
            h = (h * 5 + 0xE6546B64) & _MASK
    if length & 3:
        k = int.from_bytes(data[block_count << 2 :], "little")
        k = (k * _C1) & _MASK
        k = ((k << 15) | (k >> 17)) & _MASK
        h ^= (k * _C2) & _MASK
    h ^= length
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    return h ^ (h >> 16)


def murmur3_32_signed(data: bytes, seed: int = 0) -> int:
    """The same hash read as a signed 32-bit integer (what Go's ``int32(murmur3.Sum32(...))`` gives)."""
    h = murmur3_32(data, seed)
    return h - 0x100000000 if h & 0x80000000 else h
