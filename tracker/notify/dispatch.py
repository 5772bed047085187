"""The dispatcher: from outbox rows to deliveries, and deliveries to receivers (owns the transactions).

One turn (:meth:`Dispatcher.turn`) does two steps, each safe with several
dispatchers running at once:

1. **Fan out** (:meth:`Dispatcher.fan_out`): claim outbox rows not yet fanned
   out and, in the same transaction, write one delivery per active
   subscription that wants the kind (a merchant's subscription only for its
   own parcels) and one per customer channel for the four customer moments
   (:mod:`tracker.notify.messages`). Fan-out happens here, not at enqueue
   time, so that ingest writes one row per change whatever the number of
   subscribers.
2. **Deliver** (:meth:`Dispatcher.deliver`): claim due deliveries
   (:func:`tracker.notify.deliveries.claim`: the try is counted and the row
   leased in the claim's transaction; a subscription whose last try failed
   gets at most half the threads' worth of a batch, and its backlog never
   stands in front of the others'), send them outside any transaction,
   concurrently (a slow receiver holds one thread for at most the timeout,
   not the others), then record every outcome in one transaction: sent;
   retried later with backoff and jitter (:mod:`tracker.notify.backoff`,
   ``Retry-After`` respected); or, after the last allowed try, the dead
   letter. A subscription failing ``webhook_disable_after`` tries in a row
   is disabled with the reason.

A dispatcher killed at any point loses nothing: unsent outbox rows stay
unfanned, claimed deliveries come back when their lease ends and are sent
again with the same ``webhook-id`` (at least once; receivers drop duplicates
by that id).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select

from tracker.core import metrics
from tracker.core.db import write_transaction
from tracker.core.models import Facility, Parcel
from tracker.notify import backoff, deliveries, messages, outbox, signing, subscriptions
from tracker.notify.channels import Channel, ChannelFailed
from tracker.notify.payloads import render
from tracker.notify.secretbox import SecretBox
from tracker.notify.sender import Answer, Sender

log = logging.getLogger("tracker.notify")

#: Without TRACKER_WEBHOOK_SECRET_KEY webhooks cannot be signed: they wait, looked at again this often.
KEYLESS_WAIT = timedelta(minutes=5)
#: At most one customer message per parcel, kind and channel in this time.
MESSAGE_GAP = timedelta(hours=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Policy:
    zone: ZoneInfo
    max_attempts: int = 10
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=6)
    disable_after: int = 50
    lease: timedelta = timedelta(seconds=60)
    quiet_hours: tuple[int, int] | None = (21, 8)
    batch: int = 200
    threads: int = 8


@dataclass
class Report:
    fanned_out: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    skipped: int = 0
    postponed: int = 0
    disabled: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def add(self, other: Report) -> None:
        for name, value in other.__dict__.items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class _Job:
    """One claimed delivery and what sending it needs (read in the claim's transaction)."""

    row: Any
    attempt: int
    url: str | None = None
    secrets: list[str] = field(default_factory=list)
    parcel: Any = None
    skip: str | None = None
    #: Why it cannot be sent yet (and will be tried again later, not counted as a try).
    wait: str | None = None


@dataclass
class _Outcome:
    job: _Job
    answer: Answer | None = None
    postpone_until: datetime | None = None
    postpone_why: str = "quiet hours"
    skip: str | None = None


def _pickup_code_column() -> Any:
    # A pickup code is another piece of work's column: used when it exists, left out otherwise.
    return getattr(Parcel, "pickup_code", None)


def _new_day(data: dict[str, Any]) -> datetime | None:
    """The day a ``delayed`` message names: the ETA's, only when the ETA starts after the promise.

    The sweep opens ``at_risk`` (hence ``parcel.delayed``) from its coarser stage
    quartiles while the estimate it shows may still fit the promise: "running late,
    now expected on <the promised day>" contradicted itself (as on the tracking page,
    :func:`tracker.tracking.view.delay`), so then no day is named.
    """
    start, end, promised = (data.get(k) for k in ("eta_start", "eta_end", "promised_by"))
    if end is None:
        return None
    if promised is not None and datetime.fromisoformat(start or end) <= datetime.fromisoformat(promised):
        return None
    return datetime.fromisoformat(end)


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        policy: Policy,
        *,
        box: SecretBox | None,
        sender: Sender,
        channels: Mapping[str, Channel] | None = None,
        clock: Callable[[], datetime] = utc_now,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.engine, self.policy, self.box, self.sender = engine, policy, box, sender
        self.channels = dict(channels or {})
        self.clock, self.rand = clock, rand

    # -- step 1 ---------------------------------------------------------------------------
    def fan_out(self) -> int:
        now = self.clock()
        with write_transaction(self.engine) as conn:
            events = outbox.claim_new(conn, self.policy.batch)
            if not events:
                return 0
            subs = subscriptions.active(conn)
            parcels = self._parcels(conn, {e.parcel_id for e in events if e.parcel_id is not None})
            rows: list[dict[str, Any]] = []
            queued: set[tuple[int, str, str]] = set()  # (parcel, moment, channel)
            mine = outbox.mark_fanned_out(conn, [e.id for e in events], now=now)
            for event in events:
                if event.id not in mine:
                    continue  # another dispatcher got there first
                parcel = parcels.get(event.parcel_id)
                merchant = parcel.merchant_code if parcel is not None else None
                for sub in subs:
                    if event.kind not in sub.events:
                        continue
                    if sub.owner_role == "merchant" and (merchant is None or sub.merchant_code != merchant):
                        continue  # a merchant hears only of its own parcels
                    rows.append(
                        {
                            "event_id": event.id,
                            "channel": "webhook",
                            "subscription_id": sub.id,
                            "state": deliveries.PENDING,
                        }
                    )
                moment = messages.moment_of(event.kind, event.payload.get("data") or {})
                if moment is None or parcel is None:
                    continue
                for channel, address in (("email", parcel.recipient_email), ("sms", parcel.recipient_phone)):
                    if channel not in self.channels or not address:
                        continue
                    # The limit is per message (moment), not per notification kind: out for
                    # delivery and ready for pickup are both parcel.status_changed, and a parcel
                    # left at a pickup point within the hour of going out lost its pickup code.
                    key = (parcel.id, moment, channel)
                    if key in queued or any(
                        messages.moment_of(event.kind, p.get("data") or {}) == moment
                        for p in deliveries.recent_messages(
                            conn, parcel.id, event.kind, channel, now - MESSAGE_GAP
                        )
                    ):
                        rows.append(
                            {
                                "event_id": event.id,
                                "channel": channel,
                                "state": deliveries.SKIPPED,
                                "next_attempt_at": None,
                                "last_error": "one message of this kind per parcel per hour",
                            }
                        )
                        metrics.NOTIFICATIONS.labels(event.kind, channel, "skipped").inc()
                        continue
                    queued.add(key)
                    rows.append({"event_id": event.id, "channel": channel, "state": deliveries.PENDING})
            deliveries.create(conn, rows, now=now)
        return len(mine)

    def _parcels(self, conn: Connection, ids: set[int]) -> dict[int, Any]:
        if not ids:
            return {}
        columns = [
            Parcel.id,
            Parcel.tracking_number,
            Parcel.recipient_email,
            Parcel.recipient_phone,
            Parcel.recipient_language,
            Parcel.eta_start,
            Parcel.eta_end,
            Parcel.appointment_start,
            Parcel.appointment_end,
            Parcel.merchant_code,
            Facility.name.label("pickup_name"),
        ]
        if _pickup_code_column() is not None:
            columns.append(_pickup_code_column())
        query = (
            select(*columns)
            .outerjoin(Facility, Facility.code == Parcel.pickup_point)
            .where(Parcel.id.in_(ids))
        )
        return {row.id: row for row in conn.execute(query)}

    # -- step 2 ---------------------------------------------------------------------------
    def deliver(self) -> Report:
        report = Report()
        now = self.clock()
        with write_transaction(self.engine) as conn:
            claimed = deliveries.claim(
                conn,
                now=now,
                limit=self.policy.batch,
                lease=self.policy.lease,
                per_failing=max(1, self.policy.threads // 2),
            )
            if not claimed:
                return report
            jobs = self._jobs(conn, dict(claimed))
        if len(jobs) > 1 and self.policy.threads > 1:
            with ThreadPoolExecutor(min(self.policy.threads, len(jobs))) as pool:
                outcomes = list(pool.map(self._send, jobs))
        else:
            outcomes = [self._send(job) for job in jobs]
        with write_transaction(self.engine) as conn:
            sent = [
                o
                for o in outcomes
                if o.skip is None and o.postpone_until is None and o.answer and o.answer.ok
            ]
            self._record_sent(conn, sent, report)
            recorded = {id(o) for o in sent}
            for outcome in outcomes:
                if id(outcome) not in recorded:
                    self._record(conn, outcome, report)
        return report

    def _record_sent(self, conn: Connection, outcomes: list[_Outcome], report: Report) -> None:
        """Successes in a few statements (by try number and status), not one each: they are most."""
        groups: dict[tuple[int, int | None], list[_Outcome]] = {}
        for o in outcomes:
            groups.setdefault((o.job.attempt, o.answer.status if o.answer else None), []).append(o)
        now = self.clock()
        for (attempt, status), group in groups.items():
            done = deliveries.sent_many(conn, [o.job.row.id for o in group], attempt, status=status, now=now)
            report.sent += len(done)
            for o in group:
                if o.job.row.id in done:
                    metrics.NOTIFICATIONS.labels(o.job.row.kind, o.job.row.channel, "sent").inc()
        for sub_id in {o.job.row.subscription_id for o in outcomes if o.job.row.subscription_id}:
            subscriptions.succeeded(conn, sub_id)

    def _jobs(self, conn: Connection, attempts: dict[int, int]) -> list[_Job]:
        rows = deliveries.details(conn, list(attempts))
        jobs = [_Job(row, attempts[row.id]) for row in rows]
        now = self.clock()
        subs: dict[str, Any] = {}
        parcels = self._parcels(conn, {r.parcel_id for r in rows if r.channel != "webhook" and r.parcel_id})
        for job in jobs:
            if job.row.channel != "webhook":
                job.parcel = parcels.get(job.row.parcel_id)
                continue
            sub_id = job.row.subscription_id
            if sub_id not in subs:
                subs[sub_id] = subscriptions.sealed_secrets(conn, sub_id)
            sub = subs[sub_id]
            if not sub.active:
                job.skip = "the subscription is disabled or ended"
                continue
            if self.box is None:
                job.wait = "TRACKER_WEBHOOK_SECRET_KEY is not set"
                continue
            job.url = sub.url
            job.secrets = [self.box.open(sub.secret)]
            if sub.previous_secret and sub.previous_secret_until and sub.previous_secret_until > now:
                job.secrets.append(self.box.open(sub.previous_secret))
        return jobs

    def _send(self, job: _Job) -> _Outcome:
        if job.skip is not None:
            return _Outcome(job, skip=job.skip)
        if job.wait is not None:
            return _Outcome(job, postpone_until=self.clock() + KEYLESS_WAIT, postpone_why=job.wait)
        if job.row.channel == "webhook":
            body = json.dumps(
                render(job.row.payload, self.policy.zone), ensure_ascii=False, separators=(",", ":")
            ).encode()
            headers = signing.headers(job.secrets, job.row.message_id, self.clock(), body)
            return _Outcome(job, answer=self.sender.post(job.url or "", body, headers))
        return self._send_message(job)

    def _send_message(self, job: _Job) -> _Outcome:
        parcel, row = job.parcel, job.row
        if parcel is None:
            return _Outcome(job, skip="the parcel is gone")
        now = self.clock()
        if row.channel == "sms":
            until = messages.quiet_until(now, self.policy.zone, self.policy.quiet_hours)
            if until is not None:
                return _Outcome(job, postpone_until=until)
        data = row.payload.get("data") or {}
        moment = messages.moment_of(row.kind, data)
        if moment is None:
            return _Outcome(job, skip="not a customer message")
        window = (
            (parcel.appointment_start, parcel.appointment_end)
            if parcel.appointment_end
            else (parcel.eta_start, parcel.eta_end)
        )
        message = messages.render(
            moment,
            parcel.recipient_language,
            tracking_number=parcel.tracking_number,
            zone=self.policy.zone,
            window=window,
            day=_new_day(data),
            point=parcel.pickup_name,
            code=getattr(parcel, "pickup_code", None),
            answer=data.get("answer"),
        )
        to = parcel.recipient_email if row.channel == "email" else parcel.recipient_phone
        started = time.perf_counter()
        try:
            self.channels[row.channel].send(to, message)
        except ChannelFailed as exc:
            return _Outcome(job, answer=Answer(None, error=str(exc), seconds=time.perf_counter() - started))
        return _Outcome(job, answer=Answer(250, seconds=time.perf_counter() - started))

    def _record(self, conn: Connection, outcome: _Outcome, report: Report) -> None:
        job, row, now = outcome.job, outcome.job.row, self.clock()
        if outcome.skip is not None:
            deliveries.skip(conn, row.id, job.attempt, why=outcome.skip)
            report.skipped += 1
            metrics.NOTIFICATIONS.labels(row.kind, row.channel, "skipped").inc()
            return
        if outcome.postpone_until is not None:
            deliveries.postpone(
                conn, row.id, job.attempt, until=outcome.postpone_until, why=outcome.postpone_why
            )
            report.postponed += 1
            return
        answer = outcome.answer
        assert answer is not None
        error = answer.error or f"HTTP {answer.status}"
        if job.attempt >= self.policy.max_attempts:
            retry_at = None
        else:
            wait = backoff.delay(
                job.attempt,
                base=self.policy.backoff_base,
                cap=self.policy.backoff_max,
                retry_after=backoff.parse_retry_after(answer.retry_after, now),
                rand=self.rand,
            )
            retry_at = now + wait
        if not deliveries.failed(
            conn, row.id, job.attempt, status=answer.status, error=error, retry_at=retry_at
        ):
            # This dispatcher outlived its lease and another took the row for a newer try: that
            # try's outcome is the one recorded and counted (counting this one too put a dead
            # letter twice in tracker_notifications_total, and a failure twice in the streak).
            return
        result = "dead" if retry_at is None else "failed"
        setattr(report, result, getattr(report, result) + 1)
        metrics.NOTIFICATIONS.labels(row.kind, row.channel, result).inc()
        log.info(
            "notification try failed",
            extra={
                "fields": {"delivery": row.id, "attempt": job.attempt, "channel": row.channel, "error": error}
            },
        )
        if row.subscription_id and subscriptions.failed(
            conn, row.subscription_id, disable_after=self.policy.disable_after, why=error
        ):
            report.disabled.append(row.subscription_id)
            log.warning(
                "webhook subscription disabled", extra={"fields": {"subscription": row.subscription_id}}
            )

    # -- both -----------------------------------------------------------------------------
    def turn(self) -> Report:
        """Fan out everything new, then deliver until nothing is due."""
        report = Report()
        while (n := self.fan_out()) > 0:
            report.fanned_out += n
        while True:
            step = self.deliver()
            report.add(step)
            if step.sent + step.failed + step.dead + step.skipped + step.postponed == 0:
                return report

    def loop(
        self, *, interval: float, should_stop: Callable[[], bool], sleep: Callable[[float], None] = time.sleep
    ) -> None:
        while not should_stop():
            report = self.turn()
            if report.fanned_out == 0 and report.sent + report.failed + report.dead == 0:
                sleep(interval)


def from_settings(engine: Engine, settings: Any, *, resolver: Any = None, **kwargs: Any) -> Dispatcher:
    """A dispatcher configured by :class:`tracker.settings.Settings` (``resolver``: the DNS seam)."""
    from tracker.notify.channels import EmailChannel, SmsChannel
    from tracker.notify.secretbox import SecretsUnavailable
    from tracker.notify.sender import HttpSender
    from tracker.notify.targets import system_resolver

    try:
        box: SecretBox | None = SecretBox(settings.webhook_secret_key)
    except SecretsUnavailable:
        box = None  # webhooks wait (KEYLESS_WAIT, the reason in the delivery log); customer messages still go
        log.warning("TRACKER_WEBHOOK_SECRET_KEY is not set: webhooks cannot be signed and are skipped")
    timeout = settings.webhook_timeout.total_seconds()
    channels: dict[str, Channel] = {}
    if settings.smtp_url:
        channels["email"] = EmailChannel(settings.smtp_url, settings.mail_from, timeout=timeout)
    if settings.sms_url:
        channels["sms"] = SmsChannel(settings.sms_url, settings.sms_sign_name, timeout=timeout)
    policy = Policy(
        zone=settings.timezone,
        max_attempts=settings.webhook_max_attempts,
        backoff_base=settings.webhook_backoff_base,
        backoff_max=settings.webhook_backoff_max,
        disable_after=settings.webhook_disable_after,
        lease=settings.notify_lease,
        quiet_hours=settings.sms_quiet_hours,
    )
    sender = HttpSender(
        allow=settings.webhook_allow_networks, timeout=timeout, resolver=resolver or system_resolver
    )
    return Dispatcher(engine, policy, box=box, sender=sender, channels=channels, **kwargs)
