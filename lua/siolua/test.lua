-- siolua.test: the test API of `siolua test APP_DIR` (src/cmd/cmd_test.c,
-- started by src/lua/lua_test.c).
-- A test file in APP_DIR/tests/ registers tests when it is loaded:
--
--   local sio = require "siolua"
--   local t = require "siolua.test"
--   t.test("echo answers", function()
--     local c = assert(sio.client(sio.test_url))
--     t.eq(c:emit_with_ack("echo", 1), 1)
--   end)
--
-- The runner loads the files one by one (sorted), runs each file's tests
-- one after another, each in its own handler (so it may wait) with a time
-- limit, disconnects the clients a test left connected, and prints one line
-- per test: "ok NAME" or "FAIL NAME: file:line: message".
-- Knows nothing of C: the runner hands it spawn/waker and a finish callback.

local sio = require "siolua"

local M = {}

local registry -- the list the file being loaded adds its tests to
local DEFAULT_TIMEOUT = 10000

-- ---- showing values ------------------------------------------------------

local function show(v, depth)
  depth = depth or 0
  local tv = type(v)
  if tv == "string" then return string.format("%q", v) end
  if sio.is_binary(v) then
    local s = tostring(v)
    local hex = s:sub(1, 16):gsub(".", function(ch) return string.format("%02x", ch:byte()) end)
    return string.format("binary(%d bytes: %s%s)", #s, hex, #s > 16 and "..." or "")
  end
  if v == sio.json.null then return "null" end
  if tv ~= "table" then return tostring(v) end
  if depth > 3 then return "{...}" end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  local parts, n = {}, #v
  for _, k in ipairs(keys) do
    if #parts >= 20 then parts[#parts + 1] = "..." break end
    if math.type(k) == "integer" and k >= 1 and k <= n then
      parts[#parts + 1] = show(v[k], depth + 1)
    else
      local ks = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. show(k, depth + 1) .. "]")
      parts[#parts + 1] = ks .. " = " .. show(v[k], depth + 1)
    end
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end
M.show = show

local function fail(msg, note, level)
  if note then msg = msg .. " (" .. tostring(note) .. ")" end
  error(msg, level + 1)
end

-- ---- assertions: each fails the test with the caller's file:line ---------

function M.ok(v, note)
  if not v then fail("expected a true value, got " .. show(v), note, 2) end
  return v
end

function M.eq(actual, expected, note)
  if actual ~= expected then
    fail("expected " .. show(expected) .. ", got " .. show(actual), note, 2)
  end
  return actual
end

function M.neq(actual, unexpected, note)
  if actual == unexpected then fail("expected anything but " .. show(unexpected), note, 2) end
  return actual
end

-- Structural equality: tables compared key by key (metatables ignored, so a
-- decoded JSON array equals a plain {1, 2}), binary values by their bytes.
-- Returns nil when equal, else the path of the first difference and both values.
local function diff(a, b, path, depth)
  if a == b then return nil end
  if sio.is_binary(a) and sio.is_binary(b) then
    if tostring(a) == tostring(b) then return nil end
    return path, a, b
  end
  if type(a) ~= "table" or type(b) ~= "table" or sio.is_binary(a) or sio.is_binary(b) then
    return path, a, b
  end
  if depth > 100 then return path .. " (too deep)", a, b end
  for k, va in pairs(a) do
    local sub = type(k) == "number" and string.format("%s[%s]", path, k) or
                (type(k) == "string" and k:match("^[%a_][%w_]*$")) and (path .. "." .. k) or
                string.format("%s[%s]", path, show(k))
    local p, x, y = diff(va, rawget(b, k), sub, depth + 1)
    if p then return p, x, y end
  end
  for k, vb in pairs(b) do
    if rawget(a, k) == nil then
      local sub = type(k) == "string" and k:match("^[%a_][%w_]*$") and (path .. "." .. k) or
                  string.format("%s[%s]", path, show(k))
      return sub, nil, vb
    end
  end
  return nil
end

function M.deep_eq(actual, expected, note)
  local p, x, y = diff(actual, expected, "$", 0)
  if p then
    local where = p == "$" and "" or (" at " .. p)
    fail("values differ" .. where .. ": expected " .. show(y) .. ", got " .. show(x), note, 2)
  end
  return actual
end
M.same = M.deep_eq

-- Calls fn(...) and expects it to raise; returns the error. pattern, when
-- given, must be found in the message (plain text).
function M.raises(fn, pattern, ...)
  local ok, err = pcall(fn, ...)
  if ok then fail("expected an error, got none", nil, 2) end
  if pattern and not tostring(err):find(pattern, 1, true) then
    fail("expected an error containing " .. show(pattern) .. ", got " .. show(tostring(err)), nil, 2)
  end
  return err
end

function M.fail(msg)
  fail(tostring(msg or "failed"), nil, 2)
end

-- ---- registration ----------------------------------------------------------

-- t.test(name, fn[, {timeout = ms}])
function M.test(name, fn, opts)
  if type(name) ~= "string" then error("t.test: the name must be a string", 2) end
  if type(fn) ~= "function" then error("t.test: the test must be a function", 2) end
  if not registry then error("t.test: tests are registered while `siolua test` loads a test file", 2) end
  local info = debug.getinfo(2, "Sl")
  registry[#registry + 1] = {
    name = name, fn = fn, timeout = opts and opts.timeout,
    where = info.short_src .. ":" .. tostring(info.currentline),
  }
end

-- ---- HTTP: the app's own routes, and a stub for sio.fetch -------------------

-- The URL of path on the instance under test (absolute URLs pass through).
local function test_url(path)
  if type(path) ~= "string" then error("t.http: the path must be a string", 3) end
  if path:match("^https?://") then return path end
  if not sio.test_url then error("t.http: no server under test (run the tests with `siolua test`)", 3) end
  if path:sub(1, 1) ~= "/" then path = "/" .. path end
  return sio.test_url .. path
end

local function with(opts, key, value)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o[key] = value
  return o
end

-- t.http.get(path[, opts]), .delete, .head, .options; t.http.post(path,
-- body[, opts]), .put, .patch; t.http.request(method, path[, opts]): a
-- sio.fetch against the server under test -> res | nil, err (a table body
-- goes as JSON, as with sio.fetch).
M.http = {}
function M.http.request(method, path, opts)
  return sio.fetch(test_url(path), with(opts, "method", method))
end
for _, m in ipairs({ "get", "delete", "head", "options" }) do
  M.http[m] = function(path, opts) return M.http.request(m:upper(), path, opts) end
end
for _, m in ipairs({ "post", "put", "patch" }) do
  M.http[m] = function(path, body, opts) return M.http.request(m:upper(), path, with(opts, "body", body)) end
end

-- t.stub_fetch(fn): until the running test ends, sio.fetch(url, opts) calls
-- fn(url, opts) instead of the network. fn returns a response table
-- ({status = 200, headers = {...}, body = "..." or a table sent back as
-- JSON}; missing fields get those defaults) or nil, err. Returns the list
-- of calls seen, each {url = ..., opts = ...}. The app must look sio.fetch
-- up when it calls it (not keep it in a local from load time).
local real_fetch
function M.stub_fetch(fn)
  if type(fn) ~= "function" then error("t.stub_fetch: expects a function(url, opts)", 2) end
  real_fetch = real_fetch or sio.fetch
  local calls = {}
  sio.fetch = function(url, opts)
    calls[#calls + 1] = { url = url, opts = opts }
    local res, err = fn(url, opts)
    if res == nil then return nil, err or "stubbed failure" end
    return sio._fetch_response(res, url)
  end
  return calls
end

local function unstub()
  if real_fetch then sio.fetch, real_fetch = real_fetch, nil end
end

-- ---- the runner --------------------------------------------------------------

local function out(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

-- Runs fn in a handler of its own and waits at most ms for it: true, or
-- false and the error text.
local function run_limited(env, fn, ms, where)
  local w = env.waker()
  local timer = sio.set_timeout(ms, function()
    w:wake(false, string.format("%s: timed out after %d ms", where, ms))
  end)
  env.spawn(function()
    local ok, err = xpcall(fn, function(e)
      if type(e) == "string" then return e end
      return "error object: " .. show(e)
    end)
    w:wake(ok, err)
  end)
  local ok, err = w:wait()
  timer:cancel()
  return ok, err
end

-- Called by src/cmd/cmd_test.c in a handler: env = {files = {...},
-- timeout = ms, spawn = fn, waker = fn, finish = fn(passed, failed),
-- stopped = fn() -> true once the run is interrupted}.
function M._run(env)
  local passed, failed = 0, 0
  local default = env.timeout or DEFAULT_TIMEOUT
  local function result(name, ok, err)
    if env.stopped() then return end
    if ok then
      passed = passed + 1
      out("ok " .. name)
    else
      failed = failed + 1
      out("FAIL " .. name .. ": " .. tostring(err):gsub("\n", " "))
    end
  end
  for _, path in ipairs(env.files) do
    local chunk, lerr = loadfile(path, "t")
    local list = {}
    if not chunk then
      result(path, false, lerr)
    else
      registry = list
      local ok, err = run_limited(env, chunk, default, path)
      registry = nil
      if not ok then result(path, false, err) end
      sio._client_close_all()
      unstub()
      for _, t in ipairs(list) do
        local tok, terr = run_limited(env, t.fn, t.timeout or default, t.where)
        unstub()
        result(t.name, tok, terr)
        sio._client_close_all()
      end
    end
  end
  env.finish(passed, failed)
end

return M
