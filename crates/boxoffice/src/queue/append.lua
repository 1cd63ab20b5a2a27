-- Appends entries to a queue's log, each numbered by the show's counter, so every
-- node reads them in one order. KEYS: epoch, seq, log (one show, one hash tag).
-- ARGV: six fields per entry: proposal, kind, user, ref, at (ms), until (ms or '').
-- Returns the sequence numbers given. Refused while the log is being rebuilt (no
-- epoch): an entry appended then would be lost by the rebuild.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('REBUILDING the queue log is being rebuilt')
end
local seqs = {}
for i = 1, #ARGV, 6 do
  local seq = redis.call('INCR', KEYS[2])
  redis.call('XADD', KEYS[3], seq .. '-1',
    'p', ARGV[i], 'k', ARGV[i + 1], 'u', ARGV[i + 2],
    'r', ARGV[i + 3], 'a', ARGV[i + 4], 't', ARGV[i + 5])
  seqs[#seqs + 1] = seq
end
return seqs
