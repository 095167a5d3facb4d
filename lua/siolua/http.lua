-- L6 (Lua side): HTTP routes, sio.http.get("/api/users/:id", function(req,
-- res) ... end): small JSON APIs on the server's port. Precedence: the
-- Socket.IO path (and its client bundle), then these routes, then the
-- app's public/ files. The C side asks http_match for a route, then hands
-- the request to http_run, which runs the handler in its own coroutine and
-- answers through the request's handle. Part of lua/siolua/api.lua's
-- library.

return function(lib)
  local sio, core, dispatch = lib.sio, lib.core, lib.dispatch
  local json = core.json
  local spawn = core.spawn

  local routes = {}

  -- "/api/users/:id" -> Lua pattern "^/api/users/([^/]+)$" and {"id"}.
  local function compile_path(path)
    assert(type(path) == "string" and path:sub(1, 1) == "/", "a route path starts with /")
    local names = {}
    local pattern = "^" .. path:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"):gsub("/:([%w_]+)", function(name)
      names[#names + 1] = name
      return "/([^/]+)"
    end) .. "$"
    return pattern, names
  end

  local function add_route(method, path, fn)
    assert(type(fn) == "function", "a route handler must be a function")
    local pattern, names = compile_path(path)
    routes[#routes + 1] = { method = method, pattern = pattern, names = names, fn = fn, path = path }
  end

  local http = {}
  for _, m in ipairs({ "get", "post", "put", "delete", "patch", "head", "options" }) do
    http[m] = function(path, fn) add_route(m:upper(), path, fn) end
  end
  function http.route(method, path, fn) add_route(method:upper(), path, fn) end

  -- The files of folder dir under prefix ("/admin": /admin/ is its
  -- index.html, /admin/js/app.js its js/app.js; /admin itself redirects
  -- to /admin/ as express.static does), for GET and HEAD; a name with no
  -- file is a 404.
  function http.static(prefix, dir)
    assert(type(prefix) == "string" and prefix:sub(1, 1) == "/", "a static prefix starts with /")
    assert(type(dir) == "string", "a static folder is a path")
    prefix = prefix:gsub("/+$", "")
    local n = #prefix
    routes[#routes + 1] = {
      method = "GET", path = prefix .. "/*", names = {},
      -- The prefix alone, or followed by a path: not /administrator.
      match = function(path)
        if path:sub(1, n) ~= prefix then return nil end
        local rest = path:sub(n + 1)
        if rest == "" or rest:sub(1, 1) == "/" then return rest end
      end,
      fn = function(req, res)
        local rest = req.path:sub(n + 1)
        if rest == "" then
          return res:header("location", prefix .. "/" .. (req.url:match("%?.*$") or "")):send("", 301)
        end
        if res._h:serve_static(dir, rest) then res.sent = true else res:send("Not Found", 404) end
      end,
    }
  end
  sio.http = http

  function dispatch.http_match(method, path)
    for i = 1, #routes do
      local r = routes[i]
      if r.method == method or (r.method == "GET" and method == "HEAD") then
        local caps = r.match and { r.match(path) } or { path:match(r.pattern) }
        if caps[1] ~= nil then
          local params = {}
          for j = 1, #r.names do
            params[r.names[j]] = caps[j]:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
          end
          return r.fn, params
        end
      end
    end
    return nil
  end

  -- Raised by req:json() on a bad body: answered 400 by http_run.
  local BAD_JSON = {}

  local Request = {}
  Request.__index = Request
  function Request:json()
    if self._json ~= nil then return self._json end
    local v, err = json.decode(self.body)
    if v == nil then error({ [BAD_JSON] = true, message = "invalid JSON body: " .. tostring(err) }, 0) end
    self._json = v
    return v
  end

  local Response = {}
  Response.__index = Response
  function Response:status(code) self.status_code = code return self end
  function Response:header(name, value) self.headers[name] = tostring(value) return self end
  function Response:send(body, status)
    if self.sent then return false end
    self.sent = true
    return self._h:respond(status or self.status_code, self.headers, body and tostring(body) or "")
  end
  function Response:json(value, status)
    if not self.headers["content-type"] then self.headers["content-type"] = "application/json" end
    return self:send(json.encode(value), status)
  end

  function dispatch.http_run(fn, params, h, req)
    req.params = params
    setmetatable(req, Request)
    local res = setmetatable({ _h = h, status_code = 200, headers = {}, sent = false }, Response)
    spawn(function()
      -- Answers 500 if the handler dies where pcall can't help (the
      -- time limit, out of memory).
      local guard <close> = setmetatable({}, { __close = function()
        if not res.sent then res:json({ error = "internal server error" }, 500) end
      end })
      local ok, err = pcall(fn, req, res)
      if not ok then
        if type(err) == "table" and err[BAD_JSON] then
          res:json({ error = err.message }, 400)
          return
        end
        sio.log.error("http %s %s: %s", req.method, req.path, tostring(err))
        res:json({ error = "internal server error" }, 500)
        return
      end
      -- A handler that returns without answering: an empty 204, or what it set.
      if not res.sent then res:send("", res.status_code == 200 and 204 or res.status_code) end
    end)
  end

  -- ---- for reload.lua ----------------------------------------------------

  local H = {}
  function H.set_aside()
    local saved = routes
    routes = {}
    return saved
  end
  function H.put_back(saved) routes = saved end
  return H
end
