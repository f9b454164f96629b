-- A mixed workload for wrk (bench/scale.py): 40% browsing, 30% availability look-ups,
-- 10% bookings (each for a distinct free slot, read from BODIES), 20% staff pages.
-- BODIES holds one JSON booking per line; thread n of T takes lines n, n+T, n+2T, ...

local threads = {}
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("id", counter)
    table.insert(threads, thread)
end

function init(args)
    bodies = {}
    local n, total = 0, tonumber(os.getenv("WRK_THREADS"))
    for line in io.lines(os.getenv("BODIES")) do
        if n % total == id - 1 then table.insert(bodies, line) end
        n = n + 1
    end
    next_body, turn = 1, 0
    cookie = os.getenv("STAFF_COOKIE")
    day = os.getenv("LOOKUP_DAY")
    treatment = os.getenv("TREATMENT")
end

function request()
    turn = turn + 1
    local pick = turn % 10
    if pick < 2 then
        return wrk.format("GET", "/")
    elseif pick < 4 then
        return wrk.format("GET", "/treatments")
    elseif pick < 7 then
        return wrk.format("GET", "/api/availability?treatment=" .. treatment .. "&date=" .. day)
    elseif pick < 8 then
        local body = bodies[next_body]
        next_body = next_body + 1
        return wrk.format("POST", "/api/bookings", {["Content-Type"] = "application/json"}, body)
    else
        return wrk.format("GET", "/admin", {["Cookie"] = cookie})
    end
end

function done(summary, latency, requests)
    io.write(string.format("statuses-errors %d\n", summary.errors.status))
end
