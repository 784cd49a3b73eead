"""BackgroundHash: the same digest as hashlib, the helper thread only for a second buffer."""

import hashlib
import threading

import pytest

from dataworkflow.core.hashing import BackgroundHash


def hash_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "hash")


def test_two_buffers_used_in_turn_give_hashlibs_digest() -> None:
    buffers = [memoryview(bytearray(100_000)), memoryview(bytearray(100_000))]
    expected = hashlib.sha256()
    before = hash_threads()
    with BackgroundHash() as digest:
        for turn in range(7):
            buffer = buffers[turn % 2]  # free again: the update two turns ago is done
            buffer[:] = bytes([turn]) * len(buffer)
            expected.update(buffer[: -turn or None])
            digest.update(buffer[: -turn or None])
        assert hash_threads() == before + 1
        assert digest.hexdigest() == expected.hexdigest()
    assert hash_threads() == before


def test_one_buffer_starts_no_thread() -> None:
    before = hash_threads()
    with BackgroundHash() as digest:
        digest.update(memoryview(b"abc"))
        assert hash_threads() == before
        assert digest.hexdigest() == hashlib.sha256(b"abc").hexdigest()
    with BackgroundHash() as empty:
        assert empty.hexdigest() == hashlib.sha256(b"").hexdigest()


def test_an_error_on_the_helper_thread_reaches_the_caller() -> None:
    with BackgroundHash() as digest:
        digest.update(memoryview(b"first"))
        digest.update("not bytes")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            digest.hexdigest()
