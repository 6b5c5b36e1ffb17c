-- mix.lua - wrk script replaying a realistic agent workload against hbkd:
-- 70% search, 20% view, 6% create, 2% update, 2% cancel. Fixtures come
-- from files the bench script writes: offers (one offer id a line), view
-- bookings (read and updated), cancel bookings (each cancelled once).
-- MIX=search|view|create|update|cancel replays one operation alone.
-- PACE_MS=N makes each connection wait N ms after each answer, so that
-- the load is a steady rate below what the server can take (about
-- connections * 1000 / (N + latency) requests a second), not a flood.

local token = os.getenv("HBK_BENCH_TOKEN")
local dir = os.getenv("HBK_BENCH_DIR")
local only = os.getenv("MIX")
local cities = {"LIS", "OPO", "MAD", "BCN", "PAR", "ROM", "MIL", "BER", "AMS", "LON", "NYC",
                "TYO", "DXB", "PRG"}

local function lines(name)
  local t = {}
  for line in io.lines(dir .. "/" .. name) do t[#t + 1] = line end
  return t
end

local pace = tonumber(os.getenv("PACE_MS") or "")
if pace then
  function delay() return pace end
end

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

function init(args)
  offers = lines("offers")
  views = lines("views")
  cancels = lines("cancels")
  dates = lines("dates")
  nthreads = tonumber(os.getenv("HBK_BENCH_THREADS") or "2")
  next_offer = thread_id
  next_cancel = thread_id
  math.randomseed(thread_id * 7919)
  auth = {["Authorization"] = "Bearer " .. token}
  json = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
end

local function pick(op)
  if op == "search" then
    local path = string.format("/v1/offers?city=%s&checkin=%s&nights=%d&limit=20",
      cities[math.random(#cities)], dates[math.random(#dates)], math.random(1, 4))
    return wrk.format("GET", path, auth)
  elseif op == "view" then
    return wrk.format("GET", "/v1/bookings/" .. views[math.random(#views)], auth)
  elseif op == "create" then
    -- each thread walks its own stride of the offers
    local offer = offers[(next_offer - 1) % #offers + 1]
    next_offer = next_offer + nthreads
    local body = string.format(
      '{"offer_id":"%s","guest":{"name":"Bench Guest","email":"bench@example.com"}}', offer)
    return wrk.format("POST", "/v1/bookings", json, body)
  elseif op == "update" then
    local body = string.format('{"guest":{"phone":"+351 91%07d"}}', math.random(0, 9999999))
    return wrk.format("PATCH", "/v1/bookings/" .. views[math.random(#views)], json, body)
  else
    local id = cancels[(next_cancel - 1) % #cancels + 1]
    next_cancel = next_cancel + nthreads
    return wrk.format("POST", "/v1/bookings/" .. id .. "/cancel", json, '{"reason":"bench"}')
  end
end

function request()
  if only then return pick(only) end
  local r = math.random(100)
  if r <= 70 then return pick("search")
  elseif r <= 90 then return pick("view")
  elseif r <= 96 then return pick("create")
  elseif r <= 98 then return pick("update")
  else return pick("cancel") end
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.requests))
end
