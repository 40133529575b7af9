-- Forward auth for HAProxy >= 2.5 built with Lua (core.httpclient).
--
--   http-request lua.forward_auth <auth URL>
--
-- asks the auth server (gate: http://gate:9091/api/authz/forward-auth)
-- whether the request may pass. It sends GET <auth URL> with the client's
-- headers (the session cookie among them) less hop-by-hop, Host, forwarding
-- and identity headers, plus X-Forwarded-Method/Proto/Host/Uri/For taken
-- from the connection itself. The body is never sent. The answer is left in
-- transaction variables that haproxy.cfg acts on:
--   txn.auth_status    status code, 0 when the auth server did not answer
--   txn.auth_location  Location (the portal URL, for "go log in")
--   txn.auth_challenge WWW-Authenticate (a wrong Basic or token credential)
--   txn.retry_after, txn.ratelimit_limit, txn.ratelimit_remaining,
--   txn.ratelimit_reset  Retry-After and RateLimit-* (a 429)
--   txn.remote_user, txn.remote_groups, txn.remote_email, txn.remote_name
local SKIP = {
  ["host"] = true, ["content-length"] = true, ["transfer-encoding"] = true,
  ["connection"] = true, ["keep-alive"] = true, ["te"] = true, ["trailer"] = true,
  ["upgrade"] = true, ["proxy-connection"] = true, ["expect"] = true,
  ["forwarded"] = true, ["x-real-ip"] = true,
}
local PASSED = {
  ["www-authenticate"] = "txn.auth_challenge", ["retry-after"] = "txn.retry_after",
  ["ratelimit-limit"] = "txn.ratelimit_limit", ["ratelimit-remaining"] = "txn.ratelimit_remaining",
  ["ratelimit-reset"] = "txn.ratelimit_reset",
}
local IDENTITY = {
  ["remote-user"] = "txn.remote_user", ["remote-groups"] = "txn.remote_groups",
  ["remote-email"] = "txn.remote_email", ["remote-name"] = "txn.remote_name",
}

local function skipped(name)
  return SKIP[name] or name:find("^x%-forwarded%-") or name:find("^x%-original%-")
    or name:find("^remote")
end

core.register_action("forward_auth", { "http-req" }, function(txn, url)
  local headers = {}
  -- Names are lower-case; values are indexed from 0.
  for name, values in pairs(txn.http:req_get_headers()) do
    if not skipped(name) then
      local list = {}
      for i = 0, #values do
        if values[i] then list[#list + 1] = values[i] end
      end
      headers[name] = list
    end
  end
  local tls = txn.f:ssl_fc()
  headers["x-forwarded-method"] = { txn.f:method() }
  headers["x-forwarded-proto"] = { (tls == true or tls == 1) and "https" or "http" }
  headers["x-forwarded-host"] = { txn.f:req_hdr("host") }
  headers["x-forwarded-uri"] = { txn.f:pathq() }
  headers["x-forwarded-for"] = { txn.f:src() }

  local ok, res = pcall(function()
    return core.httpclient():get{ url = url, headers = headers, timeout = 5000 }
  end)
  if not ok or type(res) ~= "table" or not res.status then
    txn:set_var("txn.auth_status", 0)
    return
  end
  txn:set_var("txn.auth_status", res.status)
  local answer = res.headers or {}
  local function first(name)
    local v = answer[name]
    if v then return v[0] or v[1] end
  end
  local location = first("location")
  if location then txn:set_var("txn.auth_location", location) end
  for name, var in pairs(IDENTITY) do
    local v = first(name)
    if v then txn:set_var(var, v) end
  end
  for name, var in pairs(PASSED) do
    local v = first(name)
    if v then txn:set_var(var, v) end
  end
end, 1)
