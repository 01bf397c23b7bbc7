"""Reports and saved views: the spec W&B's clients save, its validation, run sets, pages."""
