-- POST /api/bookings for wrk (bench/booking.py): every request a distinct free slot.
-- BODIES names a file of JSON bookings, one a line; one wrk thread takes them in order from
-- line START + 1 (each run starts past the lines earlier runs may have used).

function init(args)
    bodies = {}
    for line in io.lines(os.getenv("BODIES")) do table.insert(bodies, line) end
    n = tonumber(os.getenv("START") or "0")
end

function request()
    n = n + 1
    local body = bodies[n]
    if body == nil then error("bench/booking.lua: BODIES ran out; make more") end
    return wrk.format("POST", "/api/bookings", {["Content-Type"] = "application/json"}, body)
end
