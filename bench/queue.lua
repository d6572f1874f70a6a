-- Queue ping-pong between two tasks: ours (loop.queue, and loop.cond for
-- a like-for-like line) against cqueues' condition variables, in one run
-- of one process, taking turns, best of ROUNDS.
--
-- Each workload hands N values from task A to task B and each one back
-- (2N hand-overs), so every hand-over suspends one coroutine and resumes
-- the other:
-- - ours queue: two loop.queue(1); A puts i and gets the reply, B gets and
--   puts it back.
-- - ours cond: one slot and a flag per direction, loop.cond() to wait.
-- - cqueues: the same slot-and-flag code with cqueues.condition, run by a
--   cqueues controller.
--
-- usage: lua5.4 bench/queue.lua [n [rounds]]
-- prints one line per workload (best round), then the ratios.

local loop = require "tls.loop"
local cqueues = require "cqueues"
local condition = require "cqueues.condition"

local N = tonumber(arg[1] or "") or 200000
local ROUNDS = tonumber(arg[2] or "") or 3
local clock = os.clock -- CPU seconds: the machine is shared, wall time wanders

local function ours_queue()
  local there, back = loop.queue(1), loop.queue(1)
  local a = loop.spawn(function()
    for i = 1, N do
      there:put(i)
      assert(back:get() == i)
    end
  end)
  local b = loop.spawn(function()
    for _ = 1, N do back:put(there:get()) end
  end)
  local t0 = clock()
  loop.run()
  local dt = clock() - t0
  assert(a:done() and b:done())
  return dt
end

--- The slot-and-flag ping-pong, for any condition variable with
-- wait()/signal().
local function pingpong(new_cond, spawn)
  local to_b, to_a = new_cond(), new_cond()
  local slot, full, reply, replied
  spawn(function()
    for i = 1, N do
      slot, full = i, true
      to_b:signal()
      while not replied do to_a:wait() end
      replied = false
      assert(reply == i)
    end
  end)
  spawn(function()
    for _ = 1, N do
      while not full do to_b:wait() end
      full = false
      reply, replied = slot, true
      to_a:signal()
    end
  end)
end

local function ours_cond()
  pingpong(loop.cond, loop.spawn)
  local t0 = clock()
  loop.run()
  return clock() - t0
end

local function cqueues_cond()
  local cq = cqueues.new()
  pingpong(condition.new, function(f) cq:wrap(f) end)
  local t0 = clock()
  assert(cq:loop())
  return clock() - t0
end

local impls = {
  { name = "ours_queue", run = ours_queue },
  { name = "ours_cond", run = ours_cond },
  { name = "cqueues_cond", run = cqueues_cond },
}
local best = {}
for _ = 1, ROUNDS do
  for _, impl in ipairs(impls) do
    collectgarbage()
    local dt = impl.run()
    if not best[impl.name] or dt < best[impl.name] then best[impl.name] = dt end
  end
end
local rate = {}
for _, impl in ipairs(impls) do
  rate[impl.name] = 2 * N / best[impl.name]
  print(("%s handovers_per_cpu_sec=%.0f n=%d rounds=%d cpu_seconds=%.3f"):format(
    impl.name, rate[impl.name], N, ROUNDS, best[impl.name]))
end
print(("ratio ours_queue/cqueues_cond=%.2f ours_cond/cqueues_cond=%.2f"):format(
  rate.ours_queue / rate.cqueues_cond, rate.ours_cond / rate.cqueues_cond))
