-- Merging fields into a JSON object of text values, writing exactly the text that Python's
-- storage.base.merged() writes: keys in UTF-8 byte order (never the server's locale: Redis
-- collates Lua strings with strcoll), compact, escaped as json.dumps(ensure_ascii=False) does.
local MAX_VALUE_BYTES = 16 * 1024 * 1024
local ESCAPES = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                 ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}

local function json_text(s)
  if not string.find(s, '[%z\1-\31"\\]') then return '"' .. s .. '"' end
  return '"' .. string.gsub(s, '[%z\1-\31"\\]', function(c)
    return ESCAPES[c] or string.format('\\u%04x', string.byte(c))
  end) .. '"'
end

local function byte_order(a, b)
  if a == b then return false end
  local i = 1
  while string.sub(a, i, i + 7) == string.sub(b, i, i + 7) do i = i + 8 end
  while string.byte(a, i) == string.byte(b, i) do i = i + 1 end
  local x, y = string.byte(a, i), string.byte(b, i)
  if x == nil then return true end
  if y == nil then return false end
  return x < y
end

-- The new text for an item holding `current` (false: nothing), after `fields_json`
-- ([[field, text or null], ...]); or nil and an error reply.
local function merged(current, fields_json)
  local document = {}
  if current then
    local ok, decoded = pcall(cjson.decode, current)
    if not ok or type(decoded) ~= 'table' or string.sub(current, 1, 1) ~= '{' then
      return nil, 'PARLOUR_CORRUPT a merge needs a JSON object of text values at its key'
    end
    for _, value in pairs(decoded) do
      if type(value) ~= 'string' then
        return nil, 'PARLOUR_CORRUPT a merge needs a JSON object of text values at its key'
      end
    end
    document = decoded
  end
  for _, pair in ipairs(cjson.decode(fields_json)) do
    if pair[2] == cjson.null then
      document[pair[1]] = nil
    else
      document[pair[1]] = pair[2]
    end
  end
  local names = {}
  for name in pairs(document) do names[#names + 1] = name end
  -- Sorted natively first (strcoll: byte order in the C locale, fast), then checked pair by pair
  -- in byte order; only if the server's locale collates differently, sorted again by bytes.
  table.sort(names)
  for i = 2, #names do
    if not byte_order(names[i - 1], names[i]) then
      table.sort(names, byte_order)
      break
    end
  end
  local parts = {}
  for i, name in ipairs(names) do parts[i] = json_text(name) .. ':' .. json_text(document[name]) end
  local text = '{' .. table.concat(parts, ',') .. '}'
  if #text > MAX_VALUE_BYTES then
    return nil, 'PARLOUR_TOOBIG a merge would make the value larger than ' .. MAX_VALUE_BYTES .. ' bytes'
  end
  return text
end
