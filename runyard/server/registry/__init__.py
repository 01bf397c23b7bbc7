"""The W&B Registry: registries of the organization, their collections, links and roles."""
