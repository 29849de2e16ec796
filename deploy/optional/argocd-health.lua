-- Argo CD health check for every warren.dev kind (resource.customizations.health.warren.dev_<Kind>;
-- deploy/optional/argocd-cm-patch.yaml installs it). It reads what warren writes for Flux's kstatus
-- too: Ready, Reconciling and Stalled, each for the generation it describes.
--
--   Healthy      Ready=True for the current generation
--   Progressing  no status yet, a generation warren has not finished with, or Reconciling=True
--                (waiting for a dependency, the broker unreachable, a retry)
--   Degraded     Stalled=True: only a change of the spec, or of the broker, can help (Rejected,
--                NotAllowed, Conflict, InvalidSpec, ...)
--   Suspended    Paused=True: the warren.dev/paused annotation, warren writes nothing for it
--
-- The message is Ready's: "<reason>: <message>". Argo CD runs custom checks without the string
-- library, so this uses only the base language.
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function said(c)
  if c.message == nil or c.message == "" then
    return c.reason
  end
  return c.reason .. ": " .. c.message
end

local generation = obj.metadata.generation
-- A condition describes the current spec when it says so (or cannot say: no generation known).
local function current(c)
  return c ~= nil and (generation == nil or c.observedGeneration == nil or c.observedGeneration == generation)
end

local ready = condition("Ready")
local reconciling = condition("Reconciling")
local stalled = condition("Stalled")
local observed = nil
if obj.status ~= nil then
  observed = obj.status.observedGeneration
end

local paused = condition("Paused")
if paused ~= nil and paused.status == "True" then
  hs.status = "Suspended"
  hs.message = said(paused)
  return hs
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for warren to report status"
  return hs
end

if stalled ~= nil and stalled.status == "True" and current(stalled) then
  hs.status = "Degraded"
  hs.message = said(stalled)
  return hs
end

if not current(ready) then
  hs.status = "Progressing"
  hs.message = "Waiting for warren to handle generation " .. tostring(generation)
  return hs
end

if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = said(ready)
  return hs
end

if ready.status == "True" then
  if generation ~= nil and observed ~= nil and observed ~= generation then
    hs.status = "Progressing"
    hs.message = "Generation " .. tostring(generation) .. " not applied yet (applied: " .. tostring(observed) .. ")"
    return hs
  end
  hs.status = "Healthy"
  hs.message = said(ready)
  return hs
end

-- Ready=False with neither Reconciling nor Stalled: a warren older than these conditions.
local stalls = {
  Rejected = true, NotAllowed = true, Conflict = true, InvalidSpec = true, InvalidSecret = true,
  SecretConflict = true, CertificateVerificationFailed = true,
}
if stalls[ready.reason] then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
hs.message = said(ready)
return hs
