"""The Merkle hash tree of RFC 9162 §2.1 (Certificate Transparency v2), pure.

Leaf hash ``SHA-256(0x00 || leaf)``, node hash ``SHA-256(0x01 || left || right)``;
the tree over ``n`` leaves splits at the largest power of two smaller than ``n``.

The proof generators never see a list of leaves: they ask a ``node(level, index)``
function for the hashes of *perfect* subtrees (``2**level`` leaves starting at leaf
``index * 2**level``), which is exactly what a store of such nodes can answer. A proof
needs O(log n) of them; ``needed_nodes`` names them first so a store can fetch them in
one query. The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 literally.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeReader = Callable[[int, int], bytes]
"""``node(level, index)``: the hash of the perfect subtree of ``2**level`` leaves
starting at leaf ``index * 2**level``."""


class ProofError(ValueError):
    """A proof was asked for sizes or positions that the tree does not have."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(start: int, end: int, node: NodeReader) -> bytes:
    """MTH of leaves ``[start, end)``, for ranges of the RFC's recursion (``start`` is
    a multiple of the largest power of two not above ``end - start``)."""
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return node(level, start >> level)
    k = split(size)
    return node_hash(subtree_hash(start, start + k, node), subtree_hash(start + k, end, node))


def root(size: int, node: NodeReader) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_hash(0, size, node)


def inclusion_path(index: int, size: int, node: NodeReader) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1 for leaf ``index`` (0-based) in a tree of
    ``size`` leaves, leaf side first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index < start + k:
            path.append(subtree_hash(start + k, end, node))
            end = start + k
        else:
            path.append(subtree_hash(start, start + k, node))
            start += k
    path.reverse()
    return path


def consistency_proof(first: int, second: int, node: NodeReader) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 between tree sizes ``first`` and ``second``."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    proof: list[bytes] = []
    start, end, m, complete = 0, second, first, True
    while end - start != m:
        k = split(end - start)
        if m <= k:
            proof.append(subtree_hash(start + k, end, node))
            end = start + k
        else:
            proof.append(subtree_hash(start, start + k, node))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(subtree_hash(start, end, node))
    proof.reverse()
    return proof


def needed_nodes(compute: Callable[[NodeReader], object]) -> set[tuple[int, int]]:
    """The perfect-subtree nodes that ``compute`` reads (it never branches on a hash)."""
    keys: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        keys.add((level, index))
        return bytes(HASH_SIZE)

    compute(record)
    return keys


def frontier_nodes(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees that tile leaves ``[0, size)``, largest first: a tree's
    whole state for appending (its "compact range")."""
    nodes, offset = [], 0
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            nodes.append((level, offset >> level))
            offset += 1 << level
    return nodes


class Frontier:
    """Appends leaves in O(1) amortised, yielding each perfect subtree it completes."""

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self.size = size
        self.stack = list(hashes)
        if len(self.stack) != bin(size).count("1"):
            raise ValueError("a frontier needs one hash per set bit of its size")

    @classmethod
    def load(cls, size: int, node: NodeReader) -> Frontier:
        return cls(size, [node(level, index) for level, index in frontier_nodes(size)])

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; returns the nodes ``(level, index, hash)`` it completes,
        the leaf itself first."""
        index, level, h = self.size, 0, leaf
        made = [(0, index, h)]
        while (self.size >> level) & 1:
            h = node_hash(self.stack.pop(), h)
            level += 1
            made.append((level, index >> level, h))
        self.stack.append(h)
        self.size += 1
        return made

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        h = self.stack[-1]
        for left in reversed(self.stack[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> Frontier:
        return Frontier(self.size, self.stack)


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------------


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: list[bytes], expected_root: bytes
) -> bool:
    """Does ``path`` prove that leaf hash ``leaf`` is leaf ``index`` of the tree of
    ``size`` leaves whose root is ``expected_root``?"""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in path):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> bool:
    """Does ``proof`` show that the tree of ``second`` leaves with root ``second_root``
    extends the tree of ``first`` leaves with root ``first_root``?"""
    if any(len(p) != HASH_SIZE for p in proof) or not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def root_from_leaves(leaves: list[bytes]) -> bytes:
    """MTH over leaf hashes, streaming (for verifiers that hold every leaf)."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()
