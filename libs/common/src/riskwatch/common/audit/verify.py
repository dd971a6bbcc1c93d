"""`riskwatch audit verify`: check every stored row of the audit trail against its hash chain.

The rows are read in one repeatable-read snapshot, in seq order, from the checkpoint of the
last dropped partition (or the genesis) on. What it cannot see is said in ADR 0012: rows cut
off the end of the chain, or a chain rewritten from some row on by someone who holds the
database's superuser; the head hash printed here is what to keep elsewhere against that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from riskwatch.common.audit.chain import GENESIS, Anchor, Problem, Verifier
from riskwatch.common.audit.store import first_seq, latest_checkpoint, stream_links

SHOWN = 20


@dataclass(frozen=True, slots=True)
class Verification:
    start: Anchor
    head: Anchor
    checked: int
    problems: list[Problem]  # the first `keep` found
    problem_count: int

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def summary(self) -> str:
        origin = "the genesis" if self.start == GENESIS else f"checkpoint seq {self.start.seq}"
        if self.ok:
            return (
                f"audit trail OK: {self.checked} row(s) verified from {origin}; "
                f"next seq {self.head.seq}, head hash {self.head.prev_hash}"
            )
        return (
            f"audit trail BROKEN: {self.problem_count} problem(s) in {self.checked} row(s) "
            f"verified from {origin}"
        )


async def verify_trail(
    session: AsyncSession, *, keep: int = 1000, batch: int = 5000
) -> Verification:
    """Verify the stored chain; keep the first `keep` problems (and count them all)."""
    # The checkpoint the oldest row left resumes from; rows deleted before it are a gap.
    start = await latest_checkpoint(session, at_or_before=await first_seq(session))
    verifier = Verifier(start or GENESIS)
    problems: list[Problem] = []
    count = 0
    async for link in stream_links(session, batch=batch):
        found = verifier.check(link)
        count += len(found)
        problems.extend(found[: max(0, keep - len(problems))])
    return Verification(verifier.start, verifier.head, verifier.checked, problems, count)


async def verify_database(url: str, *, out: TextIO, shown: int = SHOWN) -> int:
    """The command: 0 and a one-line summary when the chain holds; 1, the summary and the
    first `shown` problems when it does not."""
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="REPEATABLE READ")
    try:
        async with AsyncSession(engine) as session, session.begin():
            await session.execute(text("SET TRANSACTION READ ONLY"))
            result = await verify_trail(session, keep=shown)
    finally:
        await engine.dispose()
    out.write(result.summary() + "\n")
    for problem in result.problems:
        out.write(f"  seq {problem.seq}: {problem.what}\n")
    if result.problem_count > len(result.problems):
        out.write(f"  ... and {result.problem_count - len(result.problems)} more\n")
    return 0 if result.ok else 1
