-- L6 (Lua side): sio.fetch(url, opts), outbound HTTP from a handler, on the
-- raw sio._fetch of src/lua/lua_fetch.c (the request, the wait, the
-- response table). This file adds what is easier said in Lua: a table body
-- is sent as JSON with content-type application/json, and the response
-- gets its methods (res:json()). It knows nothing of the server side.

return function(sio, core)
  local raw = sio._fetch
  local json = core.json
  local type, pairs, setmetatable = type, pairs, setmetatable

  local Response = {}
  Response.__index = Response

  -- res:json() -> the decoded body | nil, err (an HTTP error status is
  -- still a response: check res.status or res.ok first if it matters).
  function Response:json()
    local v, err = json.decode(self.body)
    if v == nil and err ~= nil then
      return nil, "the response body is not JSON: " .. tostring(err)
    end
    return v
  end

  function Response:__tostring()
    return string.format("response %d %s (%s, %d bytes)", self.status, self.status_text, self.url, #self.body)
  end

  -- A response made in Lua (t.stub_fetch): defaults filled in, methods set.
  -- A table body is encoded as JSON.
  function sio._fetch_response(t, url)
    if type(t) ~= "table" then error("a stubbed response must be a table", 3) end
    local res = {}
    for k, v in pairs(t) do res[k] = v end
    res.status = res.status or 200
    res.headers = res.headers or {}
    if type(res.body) == "table" then
      res.body = json.encode(res.body)
      if res.headers["content-type"] == nil then res.headers["content-type"] = "application/json" end
    end
    res.body = res.body or ""
    res.status_text = res.status_text or ""
    if res.ok == nil then res.ok = res.status >= 200 and res.status < 300 end
    res.url = res.url or url
    res.redirected = res.redirected or false
    return setmetatable(res, Response)
  end

  local function has_header(headers, name)
    for k in pairs(headers) do
      if type(k) == "string" and k:lower() == name then return true end
    end
    return false
  end

  -- sio.fetch(url[, opts]) -> res | nil, err. Waits inside a handler, as
  -- sio.sleep does. See docs/lua-api.md, "Outbound HTTP (sio.fetch)".
  function sio.fetch(url, opts)
    if type(opts) == "table" and type(opts.body) == "table" then
      local ok, body = pcall(json.encode, opts.body)
      if not ok then error("sio.fetch: the body table cannot be sent as JSON: " .. tostring(body), 2) end
      local copy = {}
      for k, v in pairs(opts) do copy[k] = v end
      local headers = {}
      if type(opts.headers) == "table" then
        for k, v in pairs(opts.headers) do headers[k] = v end
      end
      if not has_header(headers, "content-type") then headers["content-type"] = "application/json" end
      copy.body, copy.headers = body, headers
      opts = copy
    end
    local res, err = raw(url, opts)
    if not res then return nil, err end
    return setmetatable(res, Response)
  end
end
