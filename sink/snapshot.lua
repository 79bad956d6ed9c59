-- Applies one trades-2s record to Redis, atomically: the snapshot never goes
-- back to an older window, and a subscriber never receives one.
--
-- KEYS[1]  snapshot hash: field ISIN -> latest value
-- KEYS[2]  companion hash: field ISIN -> window end of that value (epoch ms)
-- KEYS[3]  stream (optional; absent when the stream is off)
-- ARGV[1]  ISIN
-- ARGV[2]  window end, epoch milliseconds, decimal
-- ARGV[3]  value (the record's bytes)
-- ARGV[4]  Pub/Sub channel
-- ARGV[5]  stream MAXLEN (approximate)
--
-- Returns 1 when the update was applied, 0 when it was stale (its window end
-- is not newer than the stored one), which makes redelivery a no-op.
--
-- Redis does not undo a script's writes when a later command in it fails, so
-- every command that can fail on a key of the wrong type runs before the
-- first write: otherwise a retry would find the update stored, call it stale
-- and let its offset be committed, with the rest of it never done.
local raw = redis.call('HGET', KEYS[2], ARGV[1])
-- A stored window end that is not a whole number of milliseconds (written by
-- something else; tonumber alone would take 'inf' or '0x1f') is overwritten
-- rather than stopping the sink on this ISIN for ever.
local stored = raw and string.match(raw, '^%d+$') and tonumber(raw)
if stored and stored >= tonumber(ARGV[2]) then
  return 0
end
if KEYS[3] then
  redis.call('HEXISTS', KEYS[1], ARGV[1]) -- fails if KEYS[1] is not a hash
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*',
    'isin', ARGV[1], 'window_end', ARGV[2], 'value', ARGV[3])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[3])
return 1
