"""Server-side plumbing shared by the bridge and the workers: settings, datasets, jobs."""
