"""The flow's Bytewax cluster: which processes form it, where each listens, which ones we start.

No I/O: `plan_cluster` turns `--processes`, `--addresses` and `--process-id` (or their settings)
into a ClusterPlan, or an ElflowError of one line saying what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.errors import ElflowError


class ClusterError(ElflowError):
    """The cluster's options do not fit together; one line for the operator."""


def parse_address(text: str) -> str:
    """`host:port` (an IPv6 host in brackets) with a port 1–65535, returned stripped."""
    address = text.strip()
    host, sep, port = address.rpartition(":")
    if not sep or not host or host in ("[]",) or any(c.isspace() for c in address):
        raise ClusterError(f"{address!r} is not host:port")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ClusterError(f"{address!r}: the port must be a number from 1 to 65535")
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise ClusterError(f"{address!r}: write an IPv6 host in brackets, e.g. [::1]:2101")
    return address


def parse_addresses(text: str) -> tuple[str, ...]:
    """A comma-separated list of host:port, each once; empty text is no list."""
    if not text.strip():
        return ()
    addresses = tuple(parse_address(part) for part in text.split(","))
    seen: set[str] = set()
    for address in addresses:
        if address in seen:
            raise ClusterError(f"{address} is named twice in the cluster's addresses")
        seen.add(address)
    return addresses


@dataclass(frozen=True)
class ClusterPlan:
    """`size` processes in all; this command starts `local` of them (process ids).

    `addresses` is empty when every process runs here on loopback (the runner picks free ports).
    """

    size: int
    local: tuple[int, ...]
    addresses: tuple[str, ...] = ()

    @property
    def spans_machines(self) -> bool:
        return bool(self.addresses)

    def describe(self) -> str:
        if not self.addresses:
            return f"{self.size} process{'es' if self.size != 1 else ''} (all here)"
        (pid,) = self.local
        return f"{self.size} processes, this is process {pid} at {self.addresses[pid]}"


def plan_cluster(
    processes: int | None, addresses: tuple[str, ...], process_id: int | None
) -> ClusterPlan:
    """Check the options against each other.

    Without addresses: `processes` (default 1) all start here on loopback; a process id is an
    error. With addresses: the list is the whole cluster (its length the cluster size, which
    `--processes` must equal if given) and this command starts the one process `process_id`.
    """
    if not addresses:
        if process_id is not None:
            raise ClusterError(
                "--process-id needs --addresses (or ELFLOW_FLOW_ADDRESSES) naming every process"
            )
        size = processes or 1
        return ClusterPlan(size=size, local=tuple(range(size)))
    size = len(addresses)
    if processes is not None and processes != size:
        raise ClusterError(
            f"--processes {processes} does not match the {size} addresses of the cluster"
        )
    if process_id is None:
        raise ClusterError(
            f"with --addresses give --process-id (0 to {size - 1}): which process this one is"
        )
    if not 0 <= process_id < size:
        raise ClusterError(
            f"process id {process_id} is out of range: the cluster has {size} processes "
            f"(ids 0 to {size - 1})"
        )
    return ClusterPlan(size=size, local=(process_id,), addresses=addresses)
