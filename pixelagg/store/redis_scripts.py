"""The Redis store's server-side scripts (Lua), each run atomically on the campaign's node.

WRITE applies one campaign's part of a batch: it checks that the campaign exists and is not
paused and that this batch was not applied before, adds the counter increments, the first
opens (a seen set per salt window: the elements not in it yet are counted) and the sketch
elements, and refreshes every key's TTL (seen sets expire with their salt). It answers
{code, total, late}: code 1 applied, 0 applied before, -1 no such campaign, -2 paused; total is
the writer's running count of events applied, which is written last: a writer whose count came
back lower than it had been told knows that the server lost (or never finished) writes; late
counts the part's hits whose released cells were frozen before (its frozen checks).
"""

from __future__ import annotations

from ..core.privacy import ELEMENT_BYTES

__all__ = ["ADD_LINK", "FIRST_HIT", "PFADD_CHUNK", "RELEASE", "RELEASE_CHUNK", "UPDATE", "WRITE"]

PFADD_CHUNK = 500
RELEASE_CHUNK = 1000
"""Cells frozen per RELEASE call: Lua's unpack() takes a few thousand values at most."""

WRITE = """
-- SADD or PFADD a blob of ELEMENT-byte elements to a key, PFADD_CHUNK at a time (unpack()
-- takes a few thousand values at most); the sum of the command's answers (SADD's: those added).
local function add_elements(command, key, blob)
  local n = #blob / ELEMENT
  local added = 0
  local j = 0
  while j < n do
    local m = math.min(n - j, PFADD_CHUNK)
    local elements = {}
    for k = 1, m do
      local at = (j + k - 1) * ELEMENT
      elements[k] = string.sub(blob, at + 1, at + ELEMENT)
    end
    added = added + redis.call(command, key, unpack(elements))
    j = j + m
  end
  return added
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
if redis.call('HGET', KEYS[1], 'paused') == '1' then return {-2, 0} end
local writer = ARGV[3]
local total = tonumber(redis.call('HGET', KEYS[2], writer .. ':n') or '0')
local seq = tonumber(ARGV[4])
if seq > 0 then
  local last = tonumber(redis.call('HGET', KEYS[2], writer) or '0')
  if last >= seq then return {0, total} end
  redis.call('HSET', KEYS[2], writer, ARGV[4])
end
local ttl = tonumber(ARGV[1])
local late, rel = 0, tonumber(ARGV[8])
local i = 9
for _ = 1, tonumber(ARGV[7]) do
  local n = tonumber(ARGV[i])
  local held = redis.call('HMGET', KEYS[rel], unpack(ARGV, i + 1, i + n))
  for k = 1, n do
    if held[k] then
      late = late + tonumber(ARGV[i + n + 1])
      break
    end
  end
  i = i + n + 2
end
for _ = 1, tonumber(ARGV[2]) do
  redis.call('HINCRBY', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
  i = i + 3
end
local seen = {}
for _ = 1, tonumber(ARGV[5]) do
  local set = tonumber(ARGV[i])
  local added = add_elements('SADD', KEYS[set], ARGV[i + 4])
  if added > 0 then redis.call('HINCRBY', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], added) end
  seen[set] = ARGV[i + 3]
  i = i + 5
end
while i <= #ARGV do
  add_elements('PFADD', KEYS[tonumber(ARGV[i])], ARGV[i + 1])
  i = i + 2
end
total = total + tonumber(ARGV[6])
if writer ~= '-' then redis.call('HSET', KEYS[2], writer .. ':n', total) end
for k = 1, #KEYS do
  if k ~= rel then redis.call('EXPIRE', KEYS[k], seen[k] or ttl) end
end
return {1, total, late}
""".replace("PFADD_CHUNK", str(PFADD_CHUNK)).replace("ELEMENT", str(ELEMENT_BYTES))

FIRST_HIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local first = redis.call('HGET', KEYS[1], 'first_hit')
if not first then
  redis.call('HSET', KEYS[1], 'first_hit', ARGV[1])
  first = ARGV[1]
end
return first
"""

RELEASE = """
for i = 2, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
local names = {}
for i = 2, #ARGV, 2 do names[#names + 1] = ARGV[i] end
return redis.call('HMGET', KEYS[1], unpack(names))
"""

ADD_LINK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local have = redis.call('HGET', KEYS[2], ARGV[1])
if have then
  if have == ARGV[2] then return 'exists' end
  return 'taken'
end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then return 'full' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return 'added'
"""

UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i])
  else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
"""
