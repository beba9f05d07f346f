"""Operating the service: the surfaces a RevOps engineer reaches for when something looks wrong.

- ``resync``: targets (Salesforce id, HubSpot id, email, dead letters) → the sync service, in the
  foreground under the same per-person locks as the daemon.
- ``audit``: the audit stream filtered and exported; ``rollback``: a run's writes undone as new
  audited writes, skipping people changed since.
- ``status``: cursors, pauses, queue depths, API budgets and dead letters in one document.
- ``cli``: the ``crmsync`` commands over these (registered onto ``worker.cli`` with one line).

Nothing here loads, plans or writes on its own: everything goes through ``worker.sync`` and
``worker.state``.
"""
