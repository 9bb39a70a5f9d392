"""Every Lua script motion-grpc runs, each touching the keys of one instance only.

Scripts are where the guarantees live: an update is committed (state fields,
version, applied id, event) atomically and only by the lease holder.

The reply codes, statuses, field names and page sizes written here as Lua
literals are named in store/protocol.py; tests/unit/test_protocol.py checks
that both say the same.
"""

from __future__ import annotations

import hashlib

# Event statuses, re-exported: callers (tests among them) compare event statuses to scripts.*.
from motion_grpc.store.protocol import APPLIED, DISCARDED, FAILED, QUEUED, RUNNING

__all__ = [
    "APPLIED", "COMMIT", "DELETE", "DISCARDED", "ENQUEUE", "FAILED", "INIT_BEGIN", "INIT_COMMIT",
    "QUEUED", "RELEASE", "RENEW", "RUNNING", "TAKE", "UNCOUNT", "sha1",
]  # fmt: skip

_EVENT = """
local function add_event(events, maxlen, id, flow, op, status, version, enq, now, attempt, etype, emsg)
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'u', id, 'f', flow, 'o', op, 's', status,
             'v', version, 'q', enq, 't', now, 'a', attempt, 'et', etype, 'em', emsg)
end
"""

# KEYS: meta, init_lock. ARGV: token, ttl_ms.
# 1: instance exists; 0: caller must run init_state; 2: someone else is running it.
INIT_BEGIN = """
if redis.call('HEXISTS', KEYS[1], 'version') == 1 then return 1 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
return 2
"""

# KEYS: meta, state, init_lock, gone. ARGV: token, component, instance_id, now_ms, field, value, ...
# Returns the first version (1, or one past the last version of a deleted predecessor);
# 0 when the instance already exists; -1 when the init lock is no longer the caller's.
INIT_COMMIT = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[3])
if redis.call('HEXISTS', KEYS[1], 'version') == 1 then return 0 end
local version = tonumber(redis.call('GET', KEYS[4]) or '0') + 1
redis.call('DEL', KEYS[2], KEYS[4])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'version', version, 'component', ARGV[2], 'instance_id', ARGV[3],
           'created_at', ARGV[4], 'last_applied', '0-0')
return version
"""

# KEYS: meta, state, updates, events, lease, init_lock, cache, attempts, gone.
# Removes an instance; its last version stays behind in `gone` (see InstanceKeys.gone).
# A worker still running one of its updates loses its lease here, so its commit is refused.
# 1: deleted; 0: there was no such instance.
DELETE = """
local version = redis.call('HGET', KEYS[1], 'version')
if not version then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
redis.call('SET', KEYS[9], version)
return 1
"""

# KEYS: meta, updates, events, cache[, request][, pending].
# ARGV: now_ms, events_maxlen, max_queue, expect_version ('' = any), engine_id, cache_field ('' = none),
#       cache_value, cache_ttl_ms, count, (flow, op, payload)*count, lookup ('1': look the field up first),
#       instance_id, request_ttl_ms ('' = the run has no request id, and `request` is not among the keys),
#       served_version (the version the serve read and its caller reports; '' = the current one),
#       request_mark (a digest of the run's flow and props; '' = none to compare).
# With the pending set among the keys (not on Redis Cluster, where it lives in another slot), an
# instance given entries joins it here.
# With a request id, the reply is also kept in `request` for request_ttl_ms; a later call with the
# same request id (a client's retry) enqueues nothing and gets {-9, <the first call's reply>...},
# with the version the first call reported (served_version); -10 when both calls have a
# request_mark and they differ (the id was reused for another run: nothing is enqueued).
# The check and the write are in this one script, so two replicas receiving the same retry at
# once still enqueue once.
# Appends a run's update entries and caches its serve result, atomically, and only if the
# version the serve read (expect_version) was still the newest when the serve began: either
# it is the current version, or every commit since was made by the calling engine (which
# folds its own commits into its snapshot at once, so they came after the serve began).
# With lookup, a cached value ('<version>:<expires_ms>:<result>') made from the current version
# and not expired wins: nothing is written and the reply is {-7, value}. A cache holding
# CACHE_MAX_ENTRIES answers is emptied before another is added.
# Returns {id of the newest event before this call, version, entry id, ...} or an error code.
ENQUEUE = (
    _EVENT
    + """
local version = redis.call('HGET', KEYS[1], 'version')
if not version then return -3 end
local count = tonumber(ARGV[9])
local tail = 10 + 3 * count
local request, pending = nil, KEYS[5]
if ARGV[tail + 2] ~= '' then
  request, pending = KEYS[5], KEYS[6]
  local first = redis.call('GET', request)
  if first then
    local mark, reply = string.match(first, '^#([^\\n]*)\\n(.*)$')
    if mark then
      if mark ~= '' and ARGV[tail + 4] ~= '' and mark ~= ARGV[tail + 4] then return -10 end
      first = reply
    end
    return {-9, unpack(cjson.decode(first))}
  end
end
if ARGV[4] ~= '' and ARGV[4] ~= version then
  local own = redis.call('HMGET', KEYS[1], 'committer', 'run_start')
  if own[1] ~= ARGV[5] or tonumber(own[2]) > tonumber(ARGV[4]) + 1 then return -6 end
end
if ARGV[6] ~= '' and ARGV[tail] == '1' then
  local cached = redis.call('HGET', KEYS[4], ARGV[6])
  if cached then
    local made, expires = string.match(cached, '^(%d+):(%d+):')
    if made == version and tonumber(expires) > tonumber(ARGV[1]) then return {-7, cached} end
  end
end
local max_queue = tonumber(ARGV[3])
if max_queue > 0 and count > 0 and redis.call('XLEN', KEYS[2]) + count > max_queue then return -4 end
if ARGV[6] ~= '' then
  if redis.call('HLEN', KEYS[4]) >= 1000 and redis.call('HEXISTS', KEYS[4], ARGV[6]) == 0 then
    redis.call('DEL', KEYS[4])
  end
  redis.call('HSET', KEYS[4], ARGV[6], ARGV[7])
  redis.call('PEXPIRE', KEYS[4], ARGV[8])
end
local before = '0-0'
if count > 0 then
  local newest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  if #newest > 0 then before = newest[1][1] end
end
local reply = {before, version}
for i = 0, count - 1 do
  local flow, op, payload = ARGV[10 + 3 * i], ARGV[11 + 3 * i], ARGV[12 + 3 * i]
  local seq = redis.call('HINCRBY', KEYS[1], 'seq:' .. flow .. '\\0' .. op, 1)
  local id = redis.call('XADD', KEYS[2], '*', 'f', flow, 'o', op, 'p', payload, 't', ARGV[1], 'n', seq)
  redis.call('HSET', KEYS[1], 'lastq:' .. flow, id)
  add_event(KEYS[3], ARGV[2], id, flow, op, 1, version, ARGV[1], ARGV[1], 0, '', '')
  reply[#reply + 1] = id
end
if pending and count > 0 then redis.call('ZADD', pending, 'NX', ARGV[1], ARGV[tail + 1]) end
if request then
  if ARGV[tail + 3] ~= '' then reply[2] = ARGV[tail + 3] end
  redis.call('SET', request, '#' .. ARGV[tail + 4] .. '\\n' .. cjson.encode(reply), 'PX', ARGV[tail + 2])
end
return reply
"""
)

# KEYS: lease, updates, attempts, events, meta[, pending].
# ARGV: token, ttl_ms, now_ms, events_maxlen, may_acquire ('1'/'0'), group_max, policy_count, after,
#       (flow\0op, discard kind, discard_after, batch_size, groupable '1'/'0')*policy_count,
#       then, with the pending key, the instance id.
# `after` ('' = none) names the entry the caller's commit just before ended with: unless that
# commit went through, nothing is done and the reply is {-8}.
# The one step of a worker before it runs ops: take (or renew) the lease, drop head entries
# that their op's discard policy rules out (DISCARDED events), then mark RUNNING and count the
# attempt of: the next entry; or, for a batch op, the run of entries of that op up to its batch
# size; or, when the next entry is of a groupable op (cheap, no discard policy) and was never
# started, the run of such never-started entries up to group_max, which the worker applies one
# after the other and commits together. An entry this lease holder counted already is not
# counted again (its TAKE is sent again when the reply to the first was lost; meta.taken_by and
# taken_through name the holder and the last entry it counted).
# Discard kinds: 1 = NUM_NEW_UPDATES, 2 = SECONDS.
# Returns {1, version, (id, flow, op, payload, enqueued_ms, seq, attempt)*, tally}; {0, tally} when
# the queue is empty (the lease is released); {2, tally} to be called again; {-1} when another
# worker holds the lease; {-3} when the instance is gone. The tally says what this call discarded,
# so the caller counts discards without another round trip: (flow, op, reason, count)* then the
# number of those groups (0 when nothing was discarded). Given the component's pending set (one
# slot: not on a cluster), a take that finds the queue empty, or the instance gone, also takes the
# instance out of it: atomically, so an enqueue (which adds it back) is never missed, and no sweep
# has to look at an instance whose drain ended idle.
TAKE = (
    _EVENT
    + """
if ARGV[8] ~= '' and redis.call('HGET', KEYS[5], 'last_applied') ~= ARGV[8] then return {-8} end
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then
  if holder or ARGV[5] ~= '1' then return {-1} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local function settle()
  if KEYS[6] then redis.call('ZREM', KEYS[6], ARGV[9 + 5 * tonumber(ARGV[7])]) end
end
local version = redis.call('HGET', KEYS[5], 'version')
if not version then
  redis.call('DEL', KEYS[1])
  settle()
  return {-3}
end
local policies = {}
for i = 9, 8 + 5 * tonumber(ARGV[7]), 5 do
  local kind, after, batch = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  policies[ARGV[i]] = {kind, after, batch, ARGV[i + 4] == '1'}
end
local now = tonumber(ARGV[3])
-- Entries this holder counted already (up to `mine`): a TAKE of its own whose reply was lost.
local counted = redis.call('HMGET', KEYS[5], 'taken_by', 'taken_through')
local mine = counted[1] == ARGV[1] and counted[2]
local function counted_here(id)
  if not mine then return false end
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  local through_ms, through_seq = string.match(mine, '^(%d+)-(%d+)$')
  ms, through_ms = tonumber(ms), tonumber(through_ms)
  return ms < through_ms or (ms == through_ms and tonumber(seq) <= tonumber(through_seq))
end
local taken = {1, version}
local tally, tally_at = {}, {}
local function answer(reply)
  for _, value in ipairs(tally) do reply[#reply + 1] = value end
  reply[#reply + 1] = #tally / 4
  return reply
end
local head, batch, limit, count, scanned, cursor = nil, false, 1, 0, 0, '-'
while scanned < 500 do
  local page = redis.call('XRANGE', KEYS[2], cursor, '+', 'COUNT', 16)
  if #page == 0 then break end
  for _, item in ipairs(page) do
    scanned = scanned + 1
    local id, f = item[1], item[2]
    local flow, op, payload, enqueued, seq = f[2], f[4], f[6], f[8], f[10]
    local key = flow .. '\\0' .. op
    local policy = policies[key]
    local reason, message = nil, nil
    local late = policy and policy[1] == 2 and now - tonumber(enqueued) > policy[2] * 1000
    if late and redis.call('HEXISTS', KEYS[3], id) == 0 then  -- one started in time is not late
      reason = 'expired'
      message = string.format('not started within %g s of being enqueued', policy[2])
    elseif policy and policy[1] == 1 then
      local newer = tonumber(redis.call('HGET', KEYS[5], 'seq:' .. key)) - tonumber(seq)
      if newer >= policy[2] then
        reason = 'superseded'
        message = string.format('%d newer updates of %s were queued (limit %g)', newer, op, policy[2])
      end
    end
    if reason then
      redis.call('XDEL', KEYS[2], id)
      redis.call('HDEL', KEYS[3], id)
      redis.call('HSET', KEYS[5], 'last_applied', id)
      add_event(KEYS[4], ARGV[4], id, flow, op, 5, version, enqueued, ARGV[3], 0, reason, message)
      local group = key .. '\\0' .. reason
      if not tally_at[group] then
        tally_at[group] = #tally + 4
        for _, value in ipairs({flow, op, reason, 0}) do tally[#tally + 1] = value end
      end
      tally[tally_at[group]] = tally[tally_at[group]] + 1
    else
      local again = counted_here(id) and tonumber(redis.call('HGET', KEYS[3], id))
      if head then
        if batch and key ~= head then return answer(taken) end
        local fresh = again or redis.call('HEXISTS', KEYS[3], id) == 0
        if not batch and not (policy and policy[4] and fresh) then return answer(taken) end
      end
      local attempt = again
      if not attempt then
        attempt = redis.call('HINCRBY', KEYS[3], id, 1)
        add_event(KEYS[4], ARGV[4], id, flow, op, 2, version, enqueued, ARGV[3], attempt, '', '')
        redis.call('HSET', KEYS[5], 'taken_by', ARGV[1], 'taken_through', id)
      end
      for _, value in ipairs({id, flow, op, payload, enqueued, seq, attempt}) do taken[#taken + 1] = value end
      count = count + 1
      if not head then
        head = key
        if policy and policy[3] > 1 then
          batch, limit = true, policy[3]
        elseif policy and policy[4] and attempt == 1 then
          limit = tonumber(ARGV[6])
        end
      end
      if count >= limit then return answer(taken) end
    end
    cursor = '(' .. id
  end
end
if count > 0 then return answer(taken) end
if scanned >= 500 then return answer({2}) end
redis.call('DEL', KEYS[1])
settle()
return answer({0})
"""
)

# KEYS: meta, state, updates, events, lease, cache, attempts.
# ARGV: token, expected_version, now_ms, events_maxlen, engine_id, patch_count, (field, value)*patch_count,
#       then per entry: id, flow, op, status, enqueued_ms, attempt, error_type, error_message, changed.
# Commits one state patch for a run of entries at the head of the queue, in order: each entry
# whose `changed` is 1 is one version step, and its event carries the version after it.
# Returns the new version.
# meta.committer / meta.run_start name the engine that made the latest commits and the first
# version of its unbroken run of commits (see ENQUEUE).
COMMIT = (
    _EVENT
    + """
if redis.call('GET', KEYS[5]) ~= ARGV[1] then return -1 end
local version = tonumber(redis.call('HGET', KEYS[1], 'version'))
if version ~= tonumber(ARGV[2]) then return -2 end
local patch_count = tonumber(ARGV[6])
local first = 7 + 2 * patch_count
if #redis.call('XRANGE', KEYS[3], ARGV[first], ARGV[first]) == 0 then return -5 end
for i = 7, first - 1, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
local start = version
for i = first, #ARGV, 9 do
  local id = ARGV[i]
  if ARGV[i + 8] == '1' then version = version + 1 end
  redis.call('XDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[7], id)
  add_event(KEYS[4], ARGV[4], id, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], version, ARGV[i + 4], ARGV[3],
            ARGV[i + 5], ARGV[i + 6], ARGV[i + 7])
end
redis.call('HSET', KEYS[1], 'last_applied', ARGV[#ARGV - 8])
if version ~= start then
  if redis.call('HGET', KEYS[1], 'committer') ~= ARGV[5] then
    redis.call('HSET', KEYS[1], 'committer', ARGV[5], 'run_start', start + 1)
  end
  redis.call('HSET', KEYS[1], 'version', version)
  redis.call('DEL', KEYS[6])
end
return version
"""
)

# KEYS: lease. ARGV: token, ttl_ms. 1 when renewed, 0 when the lease is no longer ours.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# KEYS: lease. ARGV: token.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: lease, attempts. ARGV: token, entry id*.
# Takes back the attempt TAKE counted for each entry, for the lease holder only: the entries could
# not be tried for a reason not theirs (the server stopping, no process to run them in).
UNCOUNT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 2, #ARGV do
  if redis.call('HINCRBY', KEYS[2], ARGV[i], -1) <= 0 then redis.call('HDEL', KEYS[2], ARGV[i]) end
end
return #ARGV - 1
"""


def sha1(source: str) -> str:
    """The SHA Redis knows a script by (EVALSHA)."""
    return hashlib.sha1(source.encode()).hexdigest()
