"""Managing people: users, teams and their members, service accounts, API keys.

Plain functions over a SQLAlchemy session and the calling principal; access is decided by
`runyard.server.access` (instance admins manage users, team admins manage their team), and
refusals are `ServiceError`s whose message names the field and the fix.
"""
