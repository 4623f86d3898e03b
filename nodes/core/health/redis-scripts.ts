// Lua scripts that decide device-health transitions atomically inside Redis, so that several Node-RED
// instances sharing one Redis emit each transition exactly once: whoever's script flips the state hash
// returns (and publishes) the event; everybody else finds the new state already there.
//
// KEYS[1] zset  device id -> last seen (ms), newer wins
// KEYS[2] hash  device id -> "STATE|since|status_at|pending|timeout" (empty fields = none)
// KEYS[3] zset  device id -> next time a sweep must look at it (timeout or hold-down deadline)
// KEYS[4] string sweep lock (SET NX PX)
// KEYS[5] hash  the "watched" heartbeat (sweep and resync only): at = Redis time (ms) of the last sweep, or of
//               the resync of an instance that kept watching; since = watched_since, in the devices' time
//               (the instances' clock): silence before it was seen by nobody and is not counted
//
// An unwatched gap is measured in Redis's own clock (TIME, like the lock's PX), so instances whose clocks
// disagree neither invent a gap nor hide one; watched_since is the sweeping instance's `now`, the clock
// last-seen times and deadlines are in.
//
// Stored values are read as untrusted (anyone with write access to Redis, a bug of an older version, a manual
// repair): a score or field that is not a finite number, or a state that does not parse, is treated as absent
// (`num`, `parse`), so the script overwrites it with what it knows (the local truth) instead of failing. Why not
// skip such a device: every instance would skip it on every call, so it would never again be decided in Redis,
// and a script error used to fail the whole batch (every device in it) and, through cjson (`Cannot serialise
// number: must not be NaN or Inf`), turned one `ZADD … +inf` into a store outage. Overwriting loses nothing
// that could have been compared: a corrupt value orders against nothing.

const COMMON = `
local function fmt(n) if n == nil then return '' end return string.format('%.0f', n) end
-- a finite number or nil: tonumber accepts 'inf', 'nan' (ZSCORE answers 'inf' for an infinite score), and
-- those break comparisons, arithmetic and cjson.encode
local function num(v)
  local n = tonumber(v)
  if n and n == n and n > -math.huge and n < math.huge then return n end
  return nil
end
local STATES = {UNKNOWN = true, ONLINE = true, OFFLINE = true, TIMEOUT = true}
-- nil for a missing or corrupt value (no known state or no finite since): callers then treat it as absent
local function parse(v)
  if type(v) ~= 'string' then return nil end
  local st, since, sat, pend, tmo = string.match(v, '^(%u+)|([^|]*)|([^|]*)|([^|]*)|?([^|]*)$')
  since = num(since)
  if not st or not STATES[st] or not since then return nil end
  return st, since, num(sat), num(pend), num(tmo)
end
local function enc(st, since, sat, pend, tmo)
  return st .. '|' .. fmt(since) .. '|' .. fmt(sat) .. '|' .. fmt(pend) .. '|' .. fmt(tmo)
end
local out = {}
-- Redis time in ms (TIME is non-deterministic: effects replication, the default since Redis 5, is needed
-- before a write; replicate_commands is a no-op from Redis 7)
local function rtime()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function emit(ch, id, st, prev, since, seen, reason)
  local ev = cjson.encode({device_id = id, state = st, previous = prev or 'UNKNOWN', since = since,
    last_seen = seen or cjson.null, reason = reason})
  out[#out + 1] = ev
  if ch ~= '' then redis.call('PUBLISH', ch, ev) end
end
`;

/** ARGV: now, holdDownMs, channel, then (id, ts, timeoutMs) triples. Returns event JSON strings. */
export const ACTIVITY_LUA = `${COMMON}
local now, hold, ch = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i = 4, #ARGV, 3 do
  local id, ts, tmo = ARGV[i], num(ARGV[i + 1]), num(ARGV[i + 2])
  -- a triple without finite times (not sent by this code) is skipped rather than failing the batch
  if ts and tmo then
    local seen = num(redis.call('ZSCORE', KEYS[1], id))
    if not seen or ts > seen then seen = ts; redis.call('ZADD', KEYS[1], ts, id) end
    local st, since, sat, pend = parse(redis.call('HGET', KEYS[2], id))
    if st == 'ONLINE' then
      redis.call('ZADD', KEYS[3], seen + tmo, id)
    else
      local revive = true
      if st == 'OFFLINE' and sat and ts < sat then revive = false end
      if st == 'TIMEOUT' and seen + tmo <= now then revive = false end
      if revive then
        if hold > 0 and st and st ~= 'UNKNOWN' then
          if not pend then
            redis.call('HSET', KEYS[2], id, enc(st, since, sat, ts, tmo))
            redis.call('ZADD', KEYS[3], ts + hold, id)
          end
        else
          redis.call('HSET', KEYS[2], id, enc('ONLINE', ts, sat, nil, tmo))
          redis.call('ZADD', KEYS[3], seen + tmo, id)
          emit(ch, id, 'ONLINE', st, ts, seen, 'data')
        end
      end
    end
  end
end
return out
`;

/** ARGV: now, holdDownMs, channel, id, online (1/0), ts, reason, timeoutMs. */
export const STATUS_LUA = `${COMMON}
local hold, ch = tonumber(ARGV[2]), ARGV[3]
local id, online, ts, reason, tmo = ARGV[4], ARGV[5] == '1', num(ARGV[6]), ARGV[7], num(ARGV[8])
if not ts or not tmo then return out end
local st, since, sat, pend = parse(redis.call('HGET', KEYS[2], id))
if sat and ts < sat then return out end
local seen = num(redis.call('ZSCORE', KEYS[1], id))
if not online then
  if seen and ts < seen then return out end
  if st == 'OFFLINE' then
    redis.call('HSET', KEYS[2], id, enc(st, since, ts, nil, tmo))
    return out
  end
  redis.call('HSET', KEYS[2], id, enc('OFFLINE', ts, ts, nil, tmo))
  redis.call('ZREM', KEYS[3], id)
  emit(ch, id, 'OFFLINE', st, ts, seen, reason)
  return out
end
if not seen or ts > seen then seen = ts; redis.call('ZADD', KEYS[1], ts, id) end
if st == 'ONLINE' then
  redis.call('HSET', KEYS[2], id, enc(st, since, ts, nil, tmo))
  redis.call('ZADD', KEYS[3], seen + tmo, id)
elseif hold > 0 and st and st ~= 'UNKNOWN' then
  redis.call('HSET', KEYS[2], id, enc(st, since, ts, pend or ts, tmo))
  redis.call('ZADD', KEYS[3], (pend or ts) + hold, id)
else
  redis.call('HSET', KEYS[2], id, enc('ONLINE', ts, ts, nil, tmo))
  redis.call('ZADD', KEYS[3], seen + tmo, id)
  emit(ch, id, 'ONLINE', st, ts, seen, reason)
end
return out
`;

/** Scripts that read Redis's clock declare effects replication first (needed on Redis 3.2–4, no-op later). */
const EFFECTS = `if redis.replicate_commands then redis.replicate_commands() end
`;

/**
 * ARGV: now, holdDownMs, channel, lock token, lock ttl ms, max devices per sweep, default timeout ms,
 * unwatched gap ms. Returns false when another instance holds the sweep lock, else the event JSON strings.
 *
 * Heartbeat: when the last sweep (KEYS[5].at) is older than the gap, nobody watched the devices in between
 * (every instance was down): watched_since becomes now, and a device is then due at
 * max(its deadline, watched_since + its timeout) — the memory store's rule after a restart (table.ts,
 * watchedSince): a device still silent one timeout after the restart is reported, with since = that time.
 * No heartbeat at all (a flush while instances kept running) is no gap: they watched.
 */
export const SWEEP_LUA = `${EFFECTS}${COMMON}
local now, hold, ch = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if not redis.call('SET', KEYS[4], ARGV[4], 'NX', 'PX', ARGV[5]) then return false end
local deftmo = tonumber(ARGV[7])
local rnow = rtime()
local hb = redis.call('HMGET', KEYS[5], 'at', 'since')
local at, ws = num(hb[1]), num(hb[2])
if at and rnow - at > tonumber(ARGV[8]) and not (ws and ws >= now) then
  ws = now
  redis.call('HSET', KEYS[5], 'since', fmt(ws))
end
if not at or rnow > at then redis.call('HSET', KEYS[5], 'at', fmt(rnow)) end
-- a deadline that fell before watched_since + timeout moves there: silence nobody watched is not counted
local function watched(d, tmo)
  if ws and ws + tmo > d then return ws + tmo end
  return d
end
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[6]))
-- a +inf deadline would never come due (the device never timed out): those are looked at too, and, like a
-- -inf one, get the deadline their last-seen time gives
local stuck = redis.call('ZRANGEBYSCORE', KEYS[3], '+inf', '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[6]))
for i = 1, #stuck do due[#due + 1] = stuck[i] end
for i = 1, #due, 2 do
  local id = due[i]
  local st, since, sat, pend, tmo = parse(redis.call('HGET', KEYS[2], id))
  tmo = tmo or deftmo
  local seen = num(redis.call('ZSCORE', KEYS[1], id))
  local deadline = num(due[i + 1]) or ((seen or since or now) + tmo)
  if pend and st ~= 'ONLINE' then
    if seen and watched(seen + tmo, tmo) <= now then
      redis.call('HSET', KEYS[2], id, enc(st, since, sat, nil, tmo))
      redis.call('ZREM', KEYS[3], id)
    elseif now - pend >= hold then
      redis.call('HSET', KEYS[2], id, enc('ONLINE', pend, sat, nil, tmo))
      redis.call('ZADD', KEYS[3], (seen or pend) + tmo, id)
      emit(ch, id, 'ONLINE', st, pend, seen, 'data')
    end
  elseif st == 'ONLINE' or (not st and seen) or (st == 'UNKNOWN' and not seen) then
    -- the deadline is last seen (or registration) + that device's timeout, kept current by every activity
    -- update; after an unwatched gap, no earlier than watched_since + timeout
    local due = watched(deadline, tmo)
    if due > now then
      redis.call('ZADD', KEYS[3], due, id)
    else
      redis.call('HSET', KEYS[2], id, enc('TIMEOUT', due, sat, nil, tmo))
      redis.call('ZREM', KEYS[3], id)
      emit(ch, id, 'TIMEOUT', st, due, seen, 'timeout')
    end
  else
    redis.call('ZREM', KEYS[3], id)
  end
end
return out
`;

/**
 * Pushes one instance's table after (re)connecting: last-seen newer wins; a state is written when Redis
 * has none or the local one is newer (a transition made from memory during an outage); UNKNOWN never
 * overwrites. ARGV: channel, the instance's start (its clock), how long it has been running (ms), the
 * unwatched gap (ms), then (id, state, since, last_seen, status_at, timeout) sextuples.
 * Returns the rows where Redis holds a different, newer state (reason "restore"), for the local mirror.
 *
 * Heartbeat (KEYS[5]): an instance that was already running when the last sweep happened watched the
 * devices since (from memory during a Redis outage), so it refreshes the heartbeat: a Redis restart is no
 * unwatched gap. One started after the heartbeat went stale leaves it: its first sweep finds the gap. No
 * heartbeat at all (first start against an empty Redis, a Redis that lost its data, an upgrade from a version
 * without it): nobody is known to have watched before this instance started, so watched_since = its start.
 */
export const RESYNC_LUA = `${EFFECTS}${COMMON}
do
  local rnow, start, running, gap = rtime(), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
  local hb = redis.call('HMGET', KEYS[5], 'at', 'since')
  local at, ws = num(hb[1]), num(hb[2])
  if not at then
    if not ws or start > ws then redis.call('HSET', KEYS[5], 'since', fmt(start)) end
    redis.call('HSET', KEYS[5], 'at', fmt(rnow))
  elseif rnow - running <= at + gap and rnow > at then
    redis.call('HSET', KEYS[5], 'at', fmt(rnow))
  end
end
for i = 5, #ARGV, 6 do
  local id, lst, lsince, lseen, lsat, tmo = ARGV[i], ARGV[i + 1], num(ARGV[i + 2]), num(ARGV[i + 3]), num(ARGV[i + 4]), num(ARGV[i + 5])
  if lsince and tmo then
    local rseen = num(redis.call('ZSCORE', KEYS[1], id))
    if lseen and (not rseen or lseen > rseen) then rseen = lseen; redis.call('ZADD', KEYS[1], lseen, id) end
    -- a corrupt state (parse: nil) is overwritten with the local one, like a missing one: comparing with it
    -- failed the whole resync before ("attempt to compare nil with number"), so every reconnect failed
    local rst, rsince, rsat, rpend, rtmo = parse(redis.call('HGET', KEYS[2], id))
    if not rst or (lst ~= 'UNKNOWN' and lsince > rsince) then
      redis.call('HSET', KEYS[2], id, enc(lst, lsince, lsat, nil, tmo))
      if lst == 'ONLINE' then redis.call('ZADD', KEYS[3], (rseen or lsince) + tmo, id)
      elseif lst == 'UNKNOWN' and not rseen then redis.call('ZADD', KEYS[3], lsince + tmo, id)
      else redis.call('ZREM', KEYS[3], id) end
    else
      if rst == 'ONLINE' and rseen then redis.call('ZADD', KEYS[3], rseen + (rtmo or tmo), id) end
      if rst ~= lst or rsince ~= lsince then emit('', id, rst, lst, rsince, rseen, 'restore') end
    end
  end
end
return out
`;

/**
 * The host's clock of the instance calling it stepped (core/clock-step.ts); its times from now on are in the
 * new clock. ARGV: now (the new clock), 1 for a step forward or 0 for a step back, the most devices to move
 * in one call, the default timeout ms. Returns how many devices were moved (always 0 forward).
 *
 * Forward (NTP correcting a clock that was behind): last-seen times written before it look that much older,
 * and the next sweep would time out every device that instance had heard, then see each one ONLINE again
 * with its next message — one false alarm per device. As after an unwatched gap, watched_since becomes now:
 * a device is due no earlier than now + its timeout, so those that keep sending never time out, and one that
 * really fell silent is reported one timeout after the step (at most one timeout late).
 * Back: last-seen times written before it lie in the future, newer-wins keeps them there, and a device that
 * died was reported that much late; they (and their deadlines, and a watched_since written in the old clock)
 * move back to now, a page per call.
 */
export const CLOCK_STEP_LUA = `${COMMON}
local now = tonumber(ARGV[1])
local ws = num(redis.call('HGET', KEYS[5], 'since'))
if ARGV[2] == '1' then
  if not ws or ws < now then redis.call('HSET', KEYS[5], 'since', fmt(now)) end
  return 0
end
if ws and ws > now then redis.call('HSET', KEYS[5], 'since', fmt(now)) end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. fmt(now), '+inf', 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], now, id)
  local _, _, _, _, tmo = parse(redis.call('HGET', KEYS[2], id))
  local due = now + (tmo or tonumber(ARGV[4]))
  -- tonumber, not num: a +inf deadline is moved too (inf > due)
  local dl = tonumber(redis.call('ZSCORE', KEYS[3], id))
  if dl and dl > due then redis.call('ZADD', KEYS[3], due, id) end
end
return #ids
`;
