"""Notifications: signed webhooks and customer messages, delivered at least once.

A change that matters (a parcel's status, its ETA, a delay, a case) writes an
outbox row in the transaction that makes the change (:mod:`.outbox`); the
dispatcher (:mod:`.dispatch`, ``tracker notify dispatch``) later turns each
row into deliveries, one per matching subscription and customer channel,
and sends them with retries. The layers, top down:

* ``views`` (``/api/v1/webhooks``) and ``commands`` (``tracker notify``);
* ``dispatch``: owns the transactions, claims, sends, records;
* ``outbox``, ``subscriptions``, ``deliveries``: stores (a ``Connection`` in, never commit);
* ``sender`` and ``channels``: the outside world (HTTP, SMTP, an SMS gateway), behind seams;
* pure rules: ``signing``, ``payloads``, ``backoff``, ``targets`` (SSRF), ``secrets``,
  ``messages`` (templates, quiet hours).
"""
