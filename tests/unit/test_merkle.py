"""The pure RFC 9162 tree: published test vectors (the RFC 6962 vectors used by the
Certificate Transparency implementations, transparency-dev/merkle), and a brute-force
reference written straight from the RFC's recursive definitions over plain lists, for
every tree size up to a few hundred."""

from __future__ import annotations

import hashlib
import random
from functools import cache

import pytest

from ledger.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    ProofError,
    consistency_proof,
    frontier_nodes,
    inclusion_path,
    leaf_hash,
    needed_nodes,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# -- published vectors -----------------------------------------------------------------------

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
# (leaf, 1-based as in the source; tree size; audit path)
INCLUSION = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


def stored_nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """What a node store holds for these leaf hashes: every perfect subtree."""
    nodes: dict[tuple[int, int], bytes] = {}
    frontier = Frontier()
    for leaf in leaves:
        for level, index, h in frontier.append(leaf):
            nodes[(level, index)] = h
    return nodes


VECTOR_NODES = stored_nodes([leaf_hash(x) for x in LEAVES])


def vector_node(level: int, index: int) -> bytes:
    return VECTOR_NODES[(level, index)]


def test_the_empty_tree_hashes_to_sha256_of_nothing():
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert Frontier().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_published_vectors(size):
    assert root(size, vector_node) == ROOTS[size - 1]


@pytest.mark.parametrize("size", range(1, 9))
def test_incremental_roots_match_the_published_vectors(size):
    frontier = Frontier()
    for data in LEAVES[:size]:
        frontier.append(leaf_hash(data))
    assert frontier.root() == ROOTS[size - 1]


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(leaf, size, path):
    proof = inclusion_path(leaf - 1, size, vector_node)
    assert [p.hex() for p in proof] == path
    assert verify_inclusion(leaf - 1, size, leaf_hash(LEAVES[leaf - 1]), proof, ROOTS[size - 1])


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(first, second, proof):
    made = consistency_proof(first, second, vector_node)
    assert [p.hex() for p in made] == proof
    assert verify_consistency(first, second, ROOTS[first - 1], ROOTS[second - 1], made)


def corrupted_inclusions(index, size, leaf, path, good_root):
    """The probes transparency-dev/merkle's verifier tests use."""
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (index - 1, size, leaf, path, good_root), (index + 1, size, leaf, path, good_root),
        (index ^ 2, size, leaf, path, good_root), (index, size * 2, leaf, path, good_root),
        (index, size // 2, leaf, path, good_root), (index, size, b"WrongLeaf", path, good_root),
        (index, size, leaf, path, EMPTY_ROOT), (index, size, leaf, path, some),
        (index, size, leaf, [*path, b""], good_root),
        (index, size, leaf, [*path, good_root], good_root),
        (index, size, leaf, [b"", *path], good_root),
        (index, size, leaf, [good_root, *path], good_root),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, leaf, flipped, good_root))
    if path:
        probes.append((index, size, leaf, path[:-1], good_root))
    if len(path) > 1:
        probes.append((index, size, leaf, [path[0], some, *path[1:]], good_root))
    return probes


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION[1:])
def test_corrupted_inclusion_proofs_are_rejected(leaf, size, path):
    proof = [bytes.fromhex(h) for h in path]
    good = (leaf - 1, size, leaf_hash(LEAVES[leaf - 1]), proof, ROOTS[size - 1])
    for probe in corrupted_inclusions(*good):
        if probe == good:
            continue
        assert not verify_inclusion(*probe), probe


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY[1:])
def test_corrupted_consistency_proofs_are_rejected(first, second, path):
    proof = [bytes.fromhex(h) for h in path]
    r1, r2 = ROOTS[first - 1], ROOTS[second - 1]
    probes = [
        (first - 1, second, r1, r2, proof), (first + 1, second, r1, r2, proof),
        (first ^ 2, second, r1, r2, proof), (first, second * 2, r1, r2, proof),
        (first, second // 2, r1, r2, proof), (first, second, b"WrongRoot", r2, proof),
        (first, second, r1, b"WrongRoot", proof), (first, second, r2, r1, proof),
        (first, second, r1, r2, []), (first, second, r1, r2, [*proof, b""]),
        (first, second, r1, r2, [*proof, r1]), (first, second, r1, r2, [*proof, r2]),
        (first, second, r1, r2, [b"", *proof]), (first, second, r1, r2, [r1, *proof]),
        (first, second, r1, r2, [r2, *proof]), (first, second, r1, r2, [proof[0], *proof]),
        (first, second, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((first, second, r1, r2, flipped))
    for probe in probes:
        assert not verify_consistency(*probe), probe


def test_consistency_between_equal_sizes_needs_an_empty_proof_and_equal_roots():
    assert verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    assert not verify_consistency(3, 3, ROOTS[2], ROOTS[3], [])
    assert not verify_consistency(3, 3, ROOTS[2], ROOTS[2], [ROOTS[2]])
    assert not verify_consistency(4, 3, ROOTS[3], ROOTS[2], [])


def test_proofs_outside_the_tree_are_refused():
    with pytest.raises(ProofError):
        inclusion_path(8, 8, vector_node)
    with pytest.raises(ProofError):
        consistency_proof(0, 8, vector_node)
    with pytest.raises(ProofError):
        consistency_proof(5, 4, vector_node)


# -- brute force: the RFC's definitions over plain lists, every size up to a few hundred ----

MAX = 300
DATA = [i.to_bytes(2, "big") + hashlib.sha256(str(i).encode()).digest()[: i % 40]
        for i in range(MAX)]
HASHES = [leaf_hash(d) for d in DATA]
NODES = stored_nodes(HASHES)


@cache
def mth(start: int, end: int) -> bytes:
    """RFC 9162 §2.1.1 MTH(D[start:end]), recursively."""
    n = end - start
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + DATA[start]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(start, start + k) + mth(start + k, end)).digest()


def ref_path(m: int, start: int, end: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[start:end])."""
    n = end - start
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, start, start + k) + [mth(start + k, end)]
    return ref_path(m - k, start + k, end) + [mth(start, start + k)]


def ref_subproof(m: int, start: int, end: int, complete: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[start:end], b)."""
    n = end - start
    if m == n:
        return [] if complete else [mth(start, end)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, start, start + k, complete) + [mth(start + k, end)]
    return ref_subproof(m - k, start + k, end, False) + [mth(start, start + k)]


def node(level: int, index: int) -> bytes:
    return NODES[(level, index)]


def test_every_root_up_to_a_few_hundred_leaves_matches_brute_force():
    frontier = Frontier()
    for n in range(1, MAX + 1):
        frontier.append(HASHES[n - 1])
        assert root(n, node) == mth(0, n), n
        assert frontier.root() == mth(0, n), n


def test_every_inclusion_proof_up_to_a_few_hundred_leaves_matches_brute_force():
    for n in range(1, MAX + 1):
        top = mth(0, n)
        for m in range(n):
            proof = inclusion_path(m, n, node)
            assert proof == ref_path(m, 0, n), (m, n)
            assert verify_inclusion(m, n, HASHES[m], proof, top), (m, n)


def test_every_consistency_proof_up_to_a_few_hundred_leaves_matches_brute_force():
    for n in range(1, MAX + 1):
        top = mth(0, n)
        for m in range(1, n + 1):
            proof = consistency_proof(m, n, node)
            assert proof == (ref_subproof(m, 0, n, True) if m < n else []), (m, n)
            assert verify_consistency(m, n, mth(0, m), top, proof), (m, n)


def test_wrong_leaves_and_roots_fail_at_random_sizes():
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(2, MAX)
        m = rng.randrange(n)
        proof = inclusion_path(m, n, node)
        assert not verify_inclusion(m, n, HASHES[(m + 1) % n], proof, mth(0, n))
        assert not verify_inclusion(m, n, HASHES[m], proof, mth(0, n - 1))
        first = rng.randint(1, n - 1)
        cproof = consistency_proof(first, n, node)
        forged = node_hash(mth(0, first), mth(0, first))
        assert not verify_consistency(first, n, forged, mth(0, n), cproof)
        assert not verify_consistency(first, n, mth(0, first), forged, cproof)


def test_a_proof_reads_logarithmically_many_stored_nodes():
    n = 1_000_003
    for index in (0, 1, n // 2, n - 2, n - 1):
        keys = needed_nodes(lambda read, index=index: inclusion_path(index, n, read))
        assert len(keys) <= 2 * n.bit_length()
    keys = needed_nodes(lambda read: consistency_proof(12_345, n, read))
    assert len(keys) <= 2 * n.bit_length()


def test_the_frontier_is_one_node_per_set_bit_of_the_size():
    assert frontier_nodes(0) == []
    assert frontier_nodes(1) == [(0, 0)]
    assert frontier_nodes(6) == [(2, 0), (1, 2)]
    assert frontier_nodes(7) == [(2, 0), (1, 2), (0, 6)]
    loaded = Frontier.load(7, node)
    loaded.append(HASHES[7])
    assert loaded.root() == mth(0, 8)
