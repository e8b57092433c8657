"""Every Redis key aioresque uses, spelled once.

All keys of one queue share the hash tag ``{<queue>}`` so that every Lua
script touches a single cluster slot::

    <prefix>:{<queue>}:queue       LIST   ids waiting to run (LPUSH in, RPOP out)
    <prefix>:{<queue>}:scheduled   ZSET   id -> due time (ms, Redis clock)
    <prefix>:{<queue>}:active      ZSET   id -> lease deadline (ms, Redis clock)
    <prefix>:{<queue>}:done        ZSET   id -> finish time, completed jobs kept
    <prefix>:{<queue>}:dead        ZSET   id -> finish time, the dead set
    <prefix>:{<queue>}:jobs        HASH   id -> payload bytes (the serializer's)
    <prefix>:{<queue>}:state       HASH   id -> JSON state record (Lua-owned)
    <prefix>:{<queue>}:results     HASH   id -> serialized return value
    <prefix>:{<queue>}:errors      HASH   id -> JSON error record
    <prefix>:{<queue>}:marker      ZSET   wake-up marker idle workers block on
    <prefix>:{<queue>}:stats       HASH   counters (enqueued, completed, ...)
    <prefix>:{<queue>}:watched     SET    ids someone waits on
    <prefix>:{<queue>}:paused      STRING present while the queue is paused
    <prefix>:{<queue>}:history     HASH   per-minute completed/failed counts (ring)
    <prefix>:{<queue>}:notify:<id> LIST   wake-up for result() waiters
    <prefix>:{<queue>}:cancelled   ZSET   id -> time, running jobs asked to stop
    <prefix>:{<queue>}:cron        HASH   schedule name -> JSON record (last tick, paused, ...)
    <prefix>:{<queue>}:unique      HASH   uniqueness key -> "expiry ms|mode|job id"
    <prefix>:{<queue>}:limits      HASH   limit group -> JSON {h: holder ids, s: claim times}
    <prefix>:{<queue>}:waiting     ZSET   jobs parked by a limit, "<group>\0<seq>\0<id>" (score 0)
    <prefix>:{<queue>}:reopen      ZSET   limit group -> when its parked jobs are looked at again (ms)
    <prefix>:{<queue>}:flows       HASH   workflow id -> JSON record; "<job id>|p"/"|d"/"|i<n>" step data
    <prefix>:{<queue>}:progress    HASH   id -> JSON {"v": 0..1, "m": message, "t": ms} of a running job
    <prefix>:{<queue>}:events      STREAM job events (k kind, j id, d JSON data), capped, written while listened to
    <prefix>:{<queue>}:listening   STRING present (with a TTL) while someone follows the queue's events
    <prefix>:{<queue>}:quarantine  HASH   raw member/id that cannot be a job -> "<ms>|<where>|<reason>"

Keys that belong to no queue live under their own tags::

    <prefix>:{meta}:queues         SET    every queue name ever enqueued to
    <prefix>:{meta}:recovery-lock  STRING held (SET NX PX) by the worker running recovery
    <prefix>:{workers}:all         ZSET   worker id -> expiry of its registration (ms)
    <prefix>:{workers}:worker:<id> STRING JSON registration of one worker, with a TTL
    <prefix>:{meta}:resque         HASH   queue name -> Resque namespace it imports from

Ruby Resque's keys (``aioresque.resque``; namespace ``resque`` by default, no
hash tag, so Resque interop needs a single Redis node, not a Cluster)::

    <ns>:queues                    SET    Resque queue names
    <ns>:queue:<name>              LIST   JSON {"class": ..., "args": [...]} (RPUSH in, LPOP out)
    <ns>:failed                    LIST   JSON failure records (Resque::Failure::Redis)
    <ns>:stat:processed            STRING jobs processed (INCRBY)
    <ns>:stat:failed               STRING jobs failed (INCRBY)
    <ns>:workers                   SET    Resque worker ids "host:pid:queue,queue" (--resque-register)
    <ns>:workers:heartbeat         HASH   worker id -> last heartbeat (ISO 8601)
    <ns>:worker:<id>               STRING the job a Ruby worker runs (never set for Python workers)
    <ns>:worker:<id>:started       STRING when the worker started (Ruby's Time#to_s)

``tests/test_keys.py`` fails if a key literal appears in any other module.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "aioresque"


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The names of every key that belongs to one queue."""

    prefix: str
    queue_name: str

    @property
    def tag(self) -> str:
        """The key stem with the queue's hash tag, e.g. ``aioresque:{default}``."""
        return f"{self.prefix}:{{{self.queue_name}}}"

    @property
    def queue(self) -> str:
        """LIST of job ids waiting to be claimed."""
        return f"{self.tag}:queue"

    @property
    def scheduled(self) -> str:
        """ZSET of delayed and backing-off job ids, scored by due time."""
        return f"{self.tag}:scheduled"

    @property
    def active(self) -> str:
        """ZSET of in-flight job ids, scored by lease deadline."""
        return f"{self.tag}:active"

    @property
    def done(self) -> str:
        """ZSET of completed job ids, scored by finish time."""
        return f"{self.tag}:done"

    @property
    def dead(self) -> str:
        """ZSET of dead job ids, scored by the time they died."""
        return f"{self.tag}:dead"

    @property
    def jobs(self) -> str:
        """HASH of job id to payload."""
        return f"{self.tag}:jobs"

    @property
    def state(self) -> str:
        """HASH of job id to the JSON state record the scripts maintain."""
        return f"{self.tag}:state"

    @property
    def results(self) -> str:
        """HASH of job id to serialized return value."""
        return f"{self.tag}:results"

    @property
    def errors(self) -> str:
        """HASH of job id to JSON error record."""
        return f"{self.tag}:errors"

    @property
    def marker(self) -> str:
        """ZSET idle workers block on with BZPOPMIN."""
        return f"{self.tag}:marker"

    @property
    def stats(self) -> str:
        """HASH of counters."""
        return f"{self.tag}:stats"

    @property
    def watched(self) -> str:
        """SET of job ids that a ``result()`` caller waits on."""
        return f"{self.tag}:watched"

    @property
    def cancelled(self) -> str:
        """ZSET of running job ids whose worker must stop them, scored by cancel time."""
        return f"{self.tag}:cancelled"

    @property
    def paused(self) -> str:
        """STRING that exists while the queue is paused (claims return nothing)."""
        return f"{self.tag}:paused"

    @property
    def history(self) -> str:
        """HASH ring of per-minute throughput: slot -> ``"minute:completed:failed"``."""
        return f"{self.tag}:history"

    @property
    def cron(self) -> str:
        """HASH of periodic schedule name to its JSON record (see ``lua/cron.lua``)."""
        return f"{self.tag}:cron"

    @property
    def unique(self) -> str:
        """HASH of uniqueness key to the lock holder, ``"<expiry ms or 0>|<mode>|<job id>"``."""
        return f"{self.tag}:unique"

    @property
    def limits(self) -> str:
        """HASH of limit group to its JSON holders and recent claim times (``lua/_limit.lua``)."""
        return f"{self.tag}:limits"

    @property
    def waiting(self) -> str:
        """ZSET of jobs parked by a concurrency or rate limit, lexically ordered by group."""
        return f"{self.tag}:waiting"

    @property
    def reopen(self) -> str:
        """ZSET of limit group to the time its parked jobs are released again (ms)."""
        return f"{self.tag}:reopen"

    @property
    def flows(self) -> str:
        """HASH of workflow records and the data of their pending steps (``lua/_flow.lua``)."""
        return f"{self.tag}:flows"

    @property
    def progress(self) -> str:
        """HASH of job id to its latest progress, ``{"v": 0..1, "m": message, "t": ms}`` (``lua/progress.lua``)."""
        return f"{self.tag}:progress"

    @property
    def events(self) -> str:
        """STREAM of job events (``k`` kind, ``j`` job id, ``d`` JSON data), capped (``lua/_events.lua``).

        Written only while :attr:`listening` exists, so a queue nobody follows
        pays nothing for events.
        """
        return f"{self.tag}:events"

    @property
    def listening(self) -> str:
        """STRING that exists (with a short TTL, renewed) while someone follows the queue's events."""
        return f"{self.tag}:listening"

    @property
    def quarantine(self) -> str:
        """HASH of what cannot be a job, kept aside with its raw bytes.

        Field: the raw bytes found (a list entry, set member or id that is not
        valid UTF-8 or not a valid job id, or the id of a record that fails the
        scripts' checks). Value: ``"<ms>|<where>|<reason>"`` with ``where`` the
        key suffix it was found in (``queue``, ``state``, ...) and ``reason`` a
        short ASCII text. The job's other records stay under its id, raw.
        """
        return f"{self.tag}:quarantine"

    def notify(self, job_id: str) -> str:
        """LIST that wakes ``result()`` callers of one job."""
        return f"{self.tag}:notify:{job_id}"

    def all_fixed(self) -> tuple[str, ...]:
        """Every key of the queue that does not depend on a job id."""
        return (
            self.queue,
            self.scheduled,
            self.active,
            self.done,
            self.dead,
            self.jobs,
            self.state,
            self.results,
            self.errors,
            self.marker,
            self.stats,
            self.watched,
            self.cancelled,
            self.cron,
            self.unique,
            self.limits,
            self.waiting,
            self.reopen,
            self.flows,
            self.progress,
            self.events,
            self.listening,
            self.quarantine,
        )


def queue_registry(prefix: str) -> str:
    """SET of every queue name that has been enqueued to."""
    return f"{prefix}:{{meta}}:queues"


def recovery_lock(prefix: str) -> str:
    """STRING a worker holds (SET NX PX) while it runs recovery over every queue."""
    return f"{prefix}:{{meta}}:recovery-lock"


def worker_index(prefix: str) -> str:
    """ZSET of registered worker ids, scored by when their registration expires (ms)."""
    return f"{prefix}:{{workers}}:all"


def worker_record(prefix: str, worker_id: str) -> str:
    """STRING holding one worker's JSON registration; expires unless renewed."""
    return f"{prefix}:{{workers}}:worker:{worker_id}"


def resque_imports(prefix: str) -> str:
    """HASH of queue name to the Resque namespace its workers import from (for fleet-wide recovery)."""
    return f"{prefix}:{{meta}}:resque"


# -- Ruby Resque's own keys (aioresque.resque, aioresque._resque_import) -------


@dataclass(frozen=True, slots=True)
class ResqueKeys:
    """The keys of one Ruby Resque namespace (``resque`` unless the app set another)."""

    namespace: str

    @property
    def queues(self) -> str:
        """SET of Resque queue names (``Resque.queues``)."""
        return f"{self.namespace}:queues"

    def queue(self, name: str) -> str:
        """LIST of one Resque queue's JSON jobs (RPUSH to enqueue, LPOP to take)."""
        return f"{self.namespace}:queue:{name}"

    @property
    def failed(self) -> str:
        """LIST of Resque failure records (``Resque::Failure.all``)."""
        return f"{self.namespace}:failed"

    @property
    def processed(self) -> str:
        """STRING counter ``Resque.info[:processed]``."""
        return f"{self.namespace}:stat:processed"

    @property
    def failed_count(self) -> str:
        """STRING counter ``Resque.info[:failed]``."""
        return f"{self.namespace}:stat:failed"

    @property
    def workers(self) -> str:
        """SET of registered worker ids (``Resque.workers``)."""
        return f"{self.namespace}:workers"

    @property
    def heartbeats(self) -> str:
        """HASH of worker id to its last heartbeat, ISO 8601 (``Resque::Worker.all_heartbeats``)."""
        return f"{self.namespace}:workers:heartbeat"

    def worker(self, worker_id: str) -> str:
        """STRING holding the job a worker runs (Resque's ``worker:<id>``)."""
        return f"{self.namespace}:worker:{worker_id}"

    def worker_started(self, worker_id: str) -> str:
        """STRING holding when a worker started (Resque's ``worker:<id>:started``)."""
        return f"{self.namespace}:worker:{worker_id}:started"

    def outcome_keys(self) -> tuple[str, str, str]:
        """The failed list and the two counters, in the order the scripts take them."""
        return (self.failed, self.processed, self.failed_count)
