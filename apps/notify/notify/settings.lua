-- The settings of the modules that call out (notify/webhook.lua,
-- notify/introspect.lua): numbers and URLs from the environment, and the
-- check of a URL given in code, each refusal naming the setting.
local settings = {}

-- $name as an integer in [lo, hi], default when unset or empty; a bad
-- value stops the app's start with the reason.
function settings.int(name, default, lo, hi)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  local n = math.tointeger(tonumber(v))
  if not n or n < lo or n > hi then
    error(string.format("%s must be an integer from %d to %d, got %q", name, lo, hi, v), 0)
  end
  return n
end

-- $name as a URL, or false when unset or empty.
function settings.url(name)
  local v = os.getenv(name)
  return (v ~= nil and v ~= "") and v or false
end

-- A URL given to configure (or false for none): raises at the caller's
-- caller, naming who, when it is neither.
function settings.check_url(v, who)
  if v ~= false and (type(v) ~= "string" or not v:match("^https?://")) then
    error(who .. ": 'url' must be an http:// or https:// URL (or false)", 3)
  end
  return v or nil
end

return settings
