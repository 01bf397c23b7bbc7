"""Read an automation back with the official client (`api.automation(name=...)`) and the
integrations listing; with `--edit`, also disable it, then delete it. Prints RESULT lines."""

import json
import sys

import wandb

api = wandb.Api()
automation = api.automation(name=sys.argv[1], entity=api.default_entity)
kinds = {type(i).__name__ for i in api.integrations(entity=api.default_entity)}
assert kinds <= {"SlackIntegration", "WebhookIntegration"}, kinds
result = {
    "name": automation.name,
    "scope": [automation.scope.scope_type.value, automation.scope.name],
    "event": automation.event.event_type.value,
    "action": automation.action.action_type.value,
    "enabled": automation.enabled,
}
print("RESULT " + json.dumps(result), flush=True)
if "--edit" in sys.argv:
    edited = api.update_automation(automation, enabled=False, description="paused")
    again = api.automation(name=sys.argv[1], entity=api.default_entity)
    print("RESULT " + json.dumps({"enabled": again.enabled, "description": again.description}))
    api.delete_automation(edited)
    left = [a.name for a in api.automations(entity=api.default_entity)]
    print("RESULT " + json.dumps({"deleted": sys.argv[1] not in left}), flush=True)
