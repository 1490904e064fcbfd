"""Target specifications, streamed: what to scan, in which order, on which shard.

Public API (details in docs/targets.md)::

    space = TargetSpace.parse(
        ["192.0.2.0/24", "198.51.100.10-50", "2001:db8::/120", "exch01.corp.example"],
        input_files=["targets.txt"],          # -iL
        exclude=["192.0.2.1,192.0.2.254"],    # --exclude (comma separated)
        exclude_files=["skip.txt"],           # --exclude-file
        max_hosts=1 << 20,                    # --max-hosts
    )                                         # TargetSpecError on a bad spec or too many
    space.total                               # targets iter_targets yields (names count 1)
    space.shard_total((2, 4))                 # exactly how many shard 2 of 4 yields
    seed = new_seed()                         # print it: same seed, same order
    for target in space.iter_targets(seed, shard=parse_shard("2/4")):
        target.spec, target.address, target.name   # a Target: address or name
    resolution = await resolve_target(target, timeout=5)   # Resolution(addresses, error)
    resolutions = await resolve_names(targets, timeout=5)  # many, in order, bounded

Command-line names come first (in the order given), then command-line addresses in a
random permutation walked through a cyclic group (see :mod:`epmscan.targets.permutation`),
then what the ``-iL`` files list, counted once and streamed by blocks (see
:mod:`epmscan.targets.listfile`); nothing is materialised, so a /8 or a file of ten
million lines starts at once in bounded memory.
"""

from epmscan.targets.resolve import (
    Resolution,
    resolve_names,
    resolve_target,
)
from epmscan.targets.space import (
    Shard,
    Target,
    TargetSpace,
    new_seed,
    parse_shard,
)

__all__ = [
    "Resolution",
    "Shard",
    "Target",
    "TargetSpace",
    "new_seed",
    "parse_shard",
    "resolve_names",
    "resolve_target",
]
