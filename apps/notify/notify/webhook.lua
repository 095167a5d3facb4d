-- An optional webhook told of each delivery: with NOTIFY_WEBHOOK_URL set,
-- every POST /api/notify that delivered is followed by a POST to that URL
-- with {"user": ID, "event": NAME, "sockets": N, "time": UNIX_SECONDS} as
-- JSON (and, with NOTIFY_WEBHOOK_SECRET, an X-Notify-Signature:
-- sha256=<hex HMAC of the body>, as GitHub signs its webhooks).
--
-- Deliveries wait in a bounded queue (NOTIFY_WEBHOOK_QUEUE, 1000) that one
-- sender drains in order. A failed call (an error, a timeout or a non-2xx
-- answer) is tried again after NOTIFY_WEBHOOK_RETRY_MS (500), doubling up
-- to 30 s, NOTIFY_WEBHOOK_ATTEMPTS (5) times in all; then that delivery is
-- given up. A full queue drops its oldest delivery. The webhook never
-- delays or fails a notification: sockets are served first, the webhook
-- hears later. An outage is logged once when it starts and once when it
-- ends, never per call.
local sio = require "siolua"
local settings = require "notify.settings"

local webhook = {}

-- The queue and its sender outlive a reload of this module (sio.state
-- survives reloads): one queue, one sender, whatever code is loaded.
local st = sio.state.notify_webhook
if not st then
  st = { queue = {}, head = 1, tail = 0, sending = false, failing = false,
         sent = 0, failed = 0, dropped = 0, overflowing = false }
  sio.state.notify_webhook = st
end

local RETRY_CAP = 30000

local function check_int(opts, name, lo, hi)
  local v = opts[name]
  if v ~= nil and (math.type(v) ~= "integer" or v < lo or v > hi) then
    error(string.format("webhook.configure: '%s' must be an integer from %d to %d", name, lo, hi), 3)
  end
  return v
end

-- webhook.configure{url =, secret =, queue =, attempts =, retry_ms =,
-- timeout_ms =}: fields left out keep their value; url = false turns the
-- webhook off. Deliveries already queued stay queued.
function webhook.configure(opts)
  if opts.url ~= nil then st.url = settings.check_url(opts.url, "webhook.configure") end
  if opts.secret ~= nil then st.secret = opts.secret ~= "" and opts.secret or nil end
  st.max = check_int(opts, "queue", 1, 1000000) or st.max
  st.attempts = check_int(opts, "attempts", 1, 100) or st.attempts
  st.retry_ms = check_int(opts, "retry_ms", 1, 3600000) or st.retry_ms
  st.timeout_ms = check_int(opts, "timeout_ms", 1, 600000) or st.timeout_ms
end

webhook.configure {
  url = settings.url("NOTIFY_WEBHOOK_URL"),
  secret = os.getenv("NOTIFY_WEBHOOK_SECRET") or "",
  queue = settings.int("NOTIFY_WEBHOOK_QUEUE", 1000, 1, 1000000),
  attempts = settings.int("NOTIFY_WEBHOOK_ATTEMPTS", 5, 1, 100),
  retry_ms = settings.int("NOTIFY_WEBHOOK_RETRY_MS", 500, 1, 3600000),
  timeout_ms = settings.int("NOTIFY_WEBHOOK_TIMEOUT_MS", 5000, 1, 600000),
}

local function queued() return st.tail - st.head + 1 end

-- One call: true, or false and why.
local function post(item)
  local body = sio.json.encode(item)
  local headers = { ["content-type"] = "application/json" }
  if st.secret then
    headers["x-notify-signature"] = "sha256=" .. sio.crypto.hex(sio.crypto.hmac_sha256(st.secret, body))
  end
  local res, err = sio.fetch(st.url, { method = "POST", body = body, headers = headers, timeout = st.timeout_ms })
  if not res then return false, err end
  if not res.ok then return false, string.format("HTTP %d %s", res.status, res.status_text) end
  return true
end

local function cancelled(why) return type(why) == "string" and why:find("^fetch cancelled") ~= nil end

-- The sender: drains the queue in order, then ends.
local function sender()
  while queued() > 0 and st.url do
    local item = st.queue[st.head]
    local ok, why
    local delay = st.retry_ms
    for attempt = 1, st.attempts do
      ok, why = post(item)
      if ok or cancelled(why) or not st.url then break end
      if not st.failing then
        st.failing = true
        sio.log.warn("webhook %s is failing (%s); deliveries wait in a queue of at most %d and are tried %d times",
                     st.url, why, st.max, st.attempts)
      end
      if attempt < st.attempts then
        sio.sleep(delay)
        delay = math.min(delay * 2, RETRY_CAP)
      end
    end
    if cancelled(why) then break end -- the server is shutting down
    -- The queue may have dropped this delivery meanwhile (it was full).
    if st.queue[st.head] == item then
      st.queue[st.head] = nil
      st.head = st.head + 1
    end
    if ok then
      st.sent = st.sent + 1
      if st.failing then
        st.failing = false
        sio.log.info("webhook %s answers again", st.url)
      end
    elseif st.url then
      st.failed = st.failed + 1
    end
  end
  st.sending = false
  if st.overflowing and queued() == 0 then
    st.overflowing = false
    sio.log.warn("webhook queue drained; %d deliveries were dropped while it was full", st.dropped_now)
  end
end

-- Called after a delivery: queues it for the webhook (when one is set).
-- Returns true when queued.
function webhook.delivered(user, event, sockets)
  if not st.url then return false end
  if queued() >= st.max then
    st.queue[st.head] = nil
    st.head = st.head + 1
    st.dropped = st.dropped + 1
    if not st.overflowing then
      st.overflowing, st.dropped_now = true, 0
      sio.log.warn("webhook queue full (%d deliveries): dropping the oldest", st.max)
    end
    st.dropped_now = st.dropped_now + 1
  end
  st.tail = st.tail + 1
  st.queue[st.tail] = { user = user, event = event, sockets = sockets, time = os.time() }
  if not st.sending then
    st.sending = true
    sio.set_timeout(0, sender)
  end
  return true
end

-- Counters, for tests and operators: queued, sent, failed (given up after
-- every attempt), dropped (the queue was full), sending, failing.
function webhook.stats()
  return { queued = queued(), sent = st.sent, failed = st.failed, dropped = st.dropped,
           sending = st.sending, failing = st.failing }
end

return webhook
