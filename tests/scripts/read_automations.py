"""Read an automation back with the official client (`api.automation(name=...)`) and the
integrations listing; prints a RESULT line."""

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
