"""The background worker (``manage.py images_worker``): jobs that read the change feed.

The outbox pattern: nothing is queued anywhere but the feed itself (images/history.py),
which already holds every committed change once, in commit order. Each job keeps how far it
has read (a ``WorkerCursor`` row; a webhook's own ``cursor``) and moves it only after the
work for those events is done, so a worker killed at any moment loses nothing: the next run
does the unfinished part again (a rendition made twice is stored once; a webhook may get an
event twice, with the same ``webhook-id``).

Several workers share the work on PostgreSQL: each job's row is taken with
``SELECT ... FOR UPDATE SKIP LOCKED`` for the time of its batch, and a killed worker's lock
goes with its connection. SQLite has one writer and no row locks: run one worker there.
"""
