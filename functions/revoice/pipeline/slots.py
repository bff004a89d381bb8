"""The plan's generation slots: a counting semaphore with a waiting line (kept in DynamoDB by
``revoice.aws.tables.SlotTable``).

sync. labs caps in-flight generations per plan and answers the next one with 429. Rather than let a
burst of jobs hammer that limit, a job takes a slot before it starts its generation and gives it back
when the job ends, however it ends. The lease item holds the set of job ids holding a slot, so taking
and giving back are idempotent (a retried step cannot take two) and a leaked slot names its job.

A job that finds no free slot joins the waiting line (its Step Functions task token, ordered by when it
first asked) and sleeps; whoever gives a slot back passes it to the longest-waiting job and wakes it at
once, so a freed slot does not sit idle until someone polls, and no job arriving meanwhile takes it
first (which would send the woken job back to the end of its wait). A lost wake-up costs one wait
timeout, never the job.

A waiter leaves in line the generation it will ask for, so whoever passes it a slot starts that
generation too, at once, and wakes the job with it: the slot is not idle while the woken execution
resumes, and the job goes straight to waiting for its generation's end. A job woken without one (the
start failed, or it was woken to a free slot it must take itself) asks for it as before; the same
Idempotency-Key and body find a generation the hand-over did start.

A job whose generation a hand-over started keeps its slot even when it could not be woken: its wait
had timed out and it is asking again (it finds the slot and the generation), or it has ended, and its
end gives the slot back (a failed job also leaves the line, so no ended job is handed a generation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from revoice.pipeline.ports import GenerationStart, SlotLease, Waiter

WokenWith = dict[str, Any]  # the generation section (on the wire) a job handed a slot is woken with
StartGeneration = Callable[["GenerationStart"], WokenWith | None]  # None: not started, the job asks itself
Wake = Callable[[str, WokenWith | None], bool]  # (task token, what it wakes with): False if no one waits

GENERATIONS = "generations"
PASS_ATTEMPTS = 8  # each failed attempt means another job took or gave back a slot in between


class GenerationSlots:
    """The rules of the plan's slots and their line, over a lease whose writes are atomic."""

    def __init__(self, lease: SlotLease) -> None:
        self._lease = lease
        self.limit = lease.limit

    def acquire(self, job_id: str) -> bool:
        """Take a slot for ``job_id``; True if it holds one now (also when it already did)."""
        return self._lease.acquire(job_id)

    def release(self, job_id: str) -> None:
        """Give back ``job_id``'s slot; a no-op if it holds none."""
        self._lease.release(job_id)

    def holders(self) -> set[str]:
        return self._lease.holders()

    def stale(self, job_is_running: Callable[[str], bool]) -> list[str]:
        """Jobs holding a slot that are no longer running (their end-of-execution event was lost)."""
        return sorted(job for job in self.holders() if not job_is_running(job))

    def reclaim(self, job_is_running: Callable[[str], bool], wake: Wake) -> list[str]:
        """Take ended jobs out of the line, give back the stale slots (waking a waiting job for each);
        return whose slots they were."""
        self._leave_line(lambda job_id: not job_is_running(job_id))
        stale = self.stale(job_is_running)
        for job_id in stale:
            self.hand_over(job_id, wake)
        return stale

    # -- the waiting line ------------------------------------------------------------------------

    def wait(self, job_id: str, since: str, task_token: str, start: GenerationStart | None = None) -> None:
        """Put ``job_id`` in line (or refresh its token), keeping its place from ``since``, with the
        generation it will start."""
        self._lease.enqueue(job_id, _entry(job_id, since), task_token, start)

    def leave_line(self, job_id: str, since: str) -> None:
        self._lease.dequeue(_entry(job_id, since))

    def job_ended(self, job_id: str, wake: Wake) -> str | None:
        """An ended job leaves the line (no hand-over starts a generation for it) and its slot goes on."""
        self._leave_line(lambda waiting: waiting == job_id)
        return self.hand_over(job_id, wake)

    def _leave_line(self, ended: Callable[[str], bool]) -> None:
        for waiter in self.waiting():
            if ended(waiter.job_id):
                self._lease.take_out_of_line(waiter)

    def waiting(self) -> list[Waiter]:
        """The line, longest-waiting first."""
        return self._lease.line()

    def wake_next(self, wake: Wake, holders: set[str] | None = None) -> str | None:
        """If a slot is free (among ``holders``, read now if not given), wake the longest-waiting job; return
        its id.

        ``wake(task_token, None)`` is False when that execution stopped waiting (it timed out into asking
        again, or ended): then the next in line is woken instead. Only one releaser takes a given
        waiter out of the line, so only one wakes it.
        """
        if len(self.holders() if holders is None else holders) >= self.limit:
            return None
        for waiter in self.waiting():
            if not self._lease.take_out_of_line(waiter) or not wake(waiter.task_token, None):
                continue
            return waiter.job_id
        return None

    def hand_over(self, job_id: str, wake: Wake, start_generation: StartGeneration | None = None) -> str | None:
        """Pass ``job_id``'s slot to the longest-waiting job and wake it, or give it back if no one waits;
        return who was given it. With ``start_generation``, the generation of a job handed the slot starts
        first and the job wakes with it. A job woken to a slot given back meanwhile asks for a free one
        itself."""
        holders = self.holders()
        if job_id not in holders:
            return self.wake_next(wake)  # given back already (the store step after the webhook)
        holder = job_id
        for waiter in self.waiting():
            if not self._lease.take_out_of_line(waiter):
                continue
            passed = self._pass(holder, waiter.job_id, holders)
            if passed is None:
                return waiter.job_id if wake(waiter.task_token, None) else self.wake_next(wake)  # given back meanwhile
            if holder in passed:  # the waiter holds one already: it goes on with that, this one goes down the line
                wake(waiter.task_token, None)
                holders = passed
                continue
            try:
                started = start_generation(waiter.start) if start_generation is not None and waiter.start else None
            except BaseException:
                wake(waiter.task_token, None)  # whatever broke the head start, the job holds the slot: it asks
                raise
            if wake(waiter.task_token, started) or started is not None:
                return waiter.job_id
            holder, holders = waiter.job_id, passed  # that execution stopped waiting: the slot passes on from it
        self.release(holder)
        return self.wake_next(wake)

    def _pass(self, holder: str, to: str, holders: set[str]) -> set[str] | None:
        """Replace ``holder`` by ``to`` among the holders in one write, so no moment has a free slot or
        one holder too many; the holders as written (unchanged if ``to`` holds one already), or None if
        ``holder`` no longer holds one. The write is conditional on ``holders`` (as the caller last read
        or wrote them), read again when another write came between."""
        for _ in range(PASS_ATTEMPTS):
            if holder not in holders:
                return None
            if to in holders:  # passed to it while its wait had timed out, and it asked again
                return holders
            passed = (holders - {holder}) | {to}
            if self._lease.replace_holders(holders, passed):
                return passed
            holders = self.holders()
        self.release(holder)  # the lease is that busy: give the slot back plainly, the woken job asks for it
        return None


def _entry(job_id: str, since: str) -> str:
    """A waiter's place: by when it first asked, then by job id."""
    return f"{since}#{job_id}"
